# How a fan-out function is written: the keys come in the event (fanbench.event/v1: its
# shard of the listing), not from a listing of its own. Serial boto3, like serial.py.
import os

import boto3

s3 = boto3.client('s3')

OPS = {
    'get-object-acl': lambda bucket, key: s3.get_object_acl(Bucket=bucket, Key=key),
    'head-object': lambda bucket, key: s3.head_object(Bucket=bucket, Key=key),
    'get-object': lambda bucket, key: s3.get_object(Bucket=bucket, Key=key)['Body'].read(),
}

def handler(event, context):
    bucket = event['bucket']
    keys = event['keys']
    if keys is None:  # an invocation that lists for itself (listing: invocation)
        pages = s3.get_paginator('list_objects_v2').paginate(Bucket=bucket, Prefix=event.get('prefix') or '')
        keys = [o['Key'] for page in pages for o in page.get('Contents', [])]
    call = OPS[event['op']]
    for key in keys:
        call(bucket, key)
    return {'calls': len(keys)}
