"""The boto3 deploy path: assets, change set, wait, outputs, diff.

`deployer.aws.deploy` orchestrates; each AWS service is reached through one small typed client
(`cloudformation`, `s3`, `lambda_`, `stepfunctions`, `sts`) built by `AwsClients`. Every
botocore `ClientError` is wrapped by `aws_call` into a `DeployerError` naming the operation, the
resource and a suggestion. boto3 is imported only where clients are built.
"""
