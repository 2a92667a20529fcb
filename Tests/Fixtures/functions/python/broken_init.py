# Fails at import: awslambdaric reports it on /runtime/init/error.
raise RuntimeError('cannot initialise: the database is unreachable')


def handler(event, context):
    return 'never'
