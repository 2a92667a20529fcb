# Parallelized aioboto3 with asyncio function code, as the seed blog printed it — with one
# change: the blog's `aioboto3.client('s3')` used aioboto3's default session, made once per
# process; aioboto3 removed that function (version 9, 2021), so the module makes the session
# once itself and the handler opens its client from it, as the blog's did.
import asyncio
import os

import aioboto3

BUCKET_NAME = os.getenv('BUCKET_NAME')
session = aioboto3.Session()

async def main():
    async with session.client('s3') as s3:
        bucket_contents = await s3.list_objects_v2(Bucket=BUCKET_NAME)
        objects = await asyncio.gather(
            *[
                s3.get_object_acl(Bucket=BUCKET_NAME, Key=content_entry['Key'])
                for content_entry in bucket_contents['Contents']
            ]
        )

def handler(event, context):
    loop = asyncio.get_event_loop()
    loop.run_until_complete(main())
