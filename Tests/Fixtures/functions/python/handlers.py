# Handlers that fail each way Lambda names, for fanbench's integration tests.
import json
import os
import time


def ok(event, context):
    return {'keys': len(event['keys'] or []), 'remaining_ms': context.get_remaining_time_in_millis()}


def raises(event, context):
    raise ValueError('boom from the handler')


def sleeps(event, context):
    time.sleep(30)
    return 'too late'


def allocates(event, context):
    hog = []
    for _ in range(1024):
        hog.append(bytearray(16 * 1024 * 1024))  # touched pages: 16 MiB at a time, past any cap here
    return len(hog)


def exits(event, context):
    os._exit(3)


def environment(event, context):
    # The whole environment the runtime was given, for the test to read.
    with open(os.environ['ENV_OUT'], 'w') as f:
        json.dump(dict(os.environ), f)
    return 'written'



def blocks(event, context):
    # 300 times: block (a 1 ms sleep), then compute for 1 ms of CPU.
    for _ in range(300):
        time.sleep(0.001)
        t = time.thread_time()
        while time.thread_time() - t < 0.001:
            pass
    return 'blocked'
