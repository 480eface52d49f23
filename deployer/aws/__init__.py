"""The AWS access layer: the only code that talks to botocore.

`clients.Endpoint` is the one client factory (AWS, or the emulator's moto server, with the
credentials rule and `AWS_ENDPOINT_URL` honoured the same way for every caller); `clients.AwsClients`
holds one small typed client per service (`cloudformation`, `s3`, `lambda_`, `stepfunctions`,
`codedeploy`, `sts`, `cloudwatch`, `logs`, `dynamodb`); every call goes through `errors.aws_call`,
which turns a botocore failure into a `DeployerError` naming the operation, the resource and a fix.
`deploy` orchestrates a stack deployment on top of them. boto3 is imported only where clients are built.
"""
