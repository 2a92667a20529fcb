# Parallelized aioboto3 with asyncio function code, as the seed blog printed it — with one
# change: aioboto3 removed the module-level `aioboto3.client` (version 9, 2021); a Session's
# client is what the blog's `aioboto3.client('s3')` was, and what seed_peers.py uses.
import asyncio
import os

import aioboto3

BUCKET_NAME = os.getenv('BUCKET_NAME')

async def main():
    async with aioboto3.Session().client('s3') as s3:
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
