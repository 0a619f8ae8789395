"""Storage: the DynamoDB tables (docs/internals.md, "DynamoDB tables"), the photos bucket and
the OTP key."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Validations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from cdk_app.constants import OTP_SECRET_LENGTH, SNAPSHOTS_PREFIX, TTL_ATTRIBUTE, VISIT_PHOTOS_PREFIX

ACCESS_LOG_RETENTION_DAYS = 90


class Storage(Construct):
    """Encrypted, on-demand tables with TTL and point-in-time recovery; a private photos bucket
    whose visit photos expire; the per-deployment HMAC key for one-time passcodes."""

    def __init__(
        self, scope: Construct, construct_id: str, *, photo_retention_days: int, lock_states: bool = False
    ) -> None:
        super().__init__(scope, construct_id)
        self.visits_table = self._table("Visits", partition_key="pk", sort_key="sk")
        self.approvals_table = self._table("Approvals", partition_key="approvalId")
        self.visitors_table = self._table("Visitors", partition_key="visitorId")
        self.passcodes_table = self._table("Passcodes", partition_key="pk", sort_key="sk")
        # With a lock: each unlock command's state (pending, unlocked, locked, no-answer), for a day.
        self.lock_states_table = self._table("LockStates", partition_key="commandId") if lock_states else None
        self.access_logs_bucket = self._access_logs_bucket()
        self.photos_bucket = self._photos_bucket(photo_retention_days)
        self.otp_secret = self._otp_secret()

    def _table(self, construct_id: str, *, partition_key: str, sort_key: str | None = None) -> dynamodb.Table:
        return dynamodb.Table(
            self,
            construct_id,
            partition_key=dynamodb.Attribute(name=partition_key, type=dynamodb.AttributeType.STRING),
            sort_key=(
                dynamodb.Attribute(name=sort_key, type=dynamodb.AttributeType.STRING) if sort_key else None
            ),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            time_to_live_attribute=TTL_ATTRIBUTE,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=RemovalPolicy.RETAIN,
        )

    def _access_logs_bucket(self) -> s3.Bucket:
        bucket = s3.Bucket(
            self,
            "AccessLogs",
            # S3 server access log delivery supports only SSE-S3 on the target bucket.
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(ACCESS_LOG_RETENTION_DAYS))],
            removal_policy=RemovalPolicy.RETAIN,
        )
        Validations.of(bucket).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-S1",
                reason=(
                    "This is the access-log bucket of the photos bucket; logging its own "
                    "access would log into itself (S3 server access logs are not chained)."
                ),
            )
        )
        return bucket

    def _photos_bucket(self, retention_days: int) -> s3.Bucket:
        # Photos of visitors: faces are personal data, so private, TLS-only, access-logged,
        # and gone after the retention period. SSE-S3 keeps presigned links (owner page) and
        # Rekognition's reads working without widening KMS grants to every reader.
        return s3.Bucket(
            self,
            "Photos",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            versioned=False,  # a deleted photo must be gone, not kept as a noncurrent version
            server_access_logs_bucket=self.access_logs_bucket,
            server_access_logs_prefix="photos/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireVisitPhotos",
                    prefix=VISIT_PHOTOS_PREFIX,
                    expiration=Duration.days(retention_days),
                ),
                s3.LifecycleRule(
                    id="ExpireSnapshots",
                    prefix=SNAPSHOTS_PREFIX,
                    expiration=Duration.days(retention_days),
                ),
                s3.LifecycleRule(
                    id="AbortIncompleteUploads",
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                ),
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )

    def _otp_secret(self) -> secretsmanager.Secret:
        secret = secretsmanager.Secret(
            self,
            "OtpKey",
            description="Smart Door: HMAC key for one-time passcode hashes (generated at deploy)",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=OTP_SECRET_LENGTH,
                exclude_punctuation=True,
                include_space=False,
            ),
            removal_policy=RemovalPolicy.DESTROY,
        )
        Validations.of(secret).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-SMG4",
                reason=(
                    "The key only hashes passcodes that live 5 minutes; there is no hosted rotation "
                    "for an HMAC key and rotating it just invalidates live codes. To rotate, put a "
                    "new 64-character value (aws secretsmanager put-secret-value); warm functions "
                    "pick it up when their secret cache expires."
                ),
            )
        )
        return secret
