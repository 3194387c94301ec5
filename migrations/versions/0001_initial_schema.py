"""initial schema: accounts, catalog, subscriptions, instances, ledger, audit

Revision ID: 0001_initial
Revises: 
Create Date: 2026-11-21 23:24:40.820183

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0001_initial'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        # TXMP-<n> display ids; SQLite has no sequences (the ledger issue adds its equivalent there).
        op.execute("CREATE SEQUENCE IF NOT EXISTS transaction_sequence START WITH 101")
    op.create_table('audit_entries',
    sa.Column('actor_id', sa.String(length=25), nullable=True),
    sa.Column('actor_email', sa.String(length=254), nullable=True),
    sa.Column('action', sa.String(length=80), nullable=False),
    sa.Column('target_type', sa.String(length=40), nullable=False),
    sa.Column('target_id', sa.String(length=64), nullable=True),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.String(length=25), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_entries'))
    )
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_entries_actor_id'), ['actor_id'], unique=False)
        batch_op.create_index('ix_audit_entries_created_at', ['created_at'], unique=False)
        batch_op.create_index('ix_audit_entries_target', ['target_type', 'target_id'], unique=False)

    op.create_table('service_categories',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('slug', sa.String(length=100), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('sort_order', sa.Integer(), nullable=False),
    sa.Column('id', sa.String(length=25), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service_categories')),
    sa.UniqueConstraint('name', name=op.f('uq_service_categories_name')),
    sa.UniqueConstraint('slug', name=op.f('uq_service_categories_slug'))
    )
    op.create_table('users',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=True),
    sa.Column('role', sa.Enum('USER', 'ADMINISTRATOR', name='role', native_enum=False, length=20), nullable=False),
    sa.Column('avatar', sa.String(length=2048), nullable=True),
    sa.Column('password_hash', sa.String(length=100), nullable=True),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('google_id', sa.String(length=255), nullable=True),
    sa.Column('is_google_user', sa.Boolean(), nullable=False),
    sa.Column('email_verified', sa.Boolean(), nullable=False),
    sa.Column('credit_balance', sa.BigInteger(), nullable=False),
    sa.Column('total_top_up', sa.BigInteger(), nullable=False),
    sa.Column('total_spent', sa.BigInteger(), nullable=False),
    sa.Column('token_version', sa.Integer(), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.String(length=25), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('credit_balance >= 0', name=op.f('ck_users_credit_balance_non_negative')),
    sa.CheckConstraint('email = lower(email)', name=op.f('ck_users_email_lowercase')),
    sa.CheckConstraint('total_top_up >= 0 AND total_spent >= 0', name=op.f('ck_users_totals_non_negative')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('email', name=op.f('uq_users_email')),
    sa.UniqueConstraint('google_id', name=op.f('uq_users_google_id')),
    sa.UniqueConstraint('phone', name=op.f('uq_users_phone'))
    )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index('ix_users_created_at', ['created_at'], unique=False)

    op.create_table('refresh_tokens',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.String(length=25), nullable=False),
    sa.Column('family_id', sa.String(length=25), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.String(length=25), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_refresh_tokens_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_refresh_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_refresh_tokens_token_hash'))
    )
    with op.batch_alter_table('refresh_tokens', schema=None) as batch_op:
        batch_op.create_index('ix_refresh_tokens_expires_at', ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_refresh_tokens_family_id'), ['family_id'], unique=False)
        batch_op.create_index('ix_refresh_tokens_user_id', ['user_id'], unique=False)

    op.create_table('services',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('slug', sa.String(length=50), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('long_description', sa.Text(), nullable=True),
    sa.Column('icon', sa.String(length=2048), nullable=True),
    sa.Column('version', sa.String(length=50), nullable=False),
    sa.Column('docker_image', sa.String(length=200), nullable=False),
    sa.Column('default_port', sa.Integer(), nullable=False),
    sa.Column('category_id', sa.String(length=25), nullable=False),
    sa.Column('env_template', sa.JSON(), nullable=True),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('documentation', sa.String(length=2048), nullable=True),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('is_public', sa.Boolean(), nullable=False),
    sa.Column('is_featured', sa.Boolean(), nullable=False),
    sa.Column('sort_order', sa.Integer(), nullable=False),
    sa.Column('id', sa.String(length=25), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('default_port BETWEEN 1 AND 65535', name=op.f('ck_services_default_port_range')),
    sa.ForeignKeyConstraint(['category_id'], ['service_categories.id'], name=op.f('fk_services_category_id_service_categories'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_services')),
    sa.UniqueConstraint('slug', name=op.f('uq_services_slug'))
    )
    with op.batch_alter_table('services', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_services_category_id'), ['category_id'], unique=False)
        batch_op.create_index('ix_services_visible', ['is_active', 'is_public'], unique=False)

    op.create_table('service_plans',
    sa.Column('service_id', sa.String(length=25), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('plan_type', sa.Enum('FREE', 'BASIC', 'PRO', 'PREMIUM', 'ENTERPRISE', name='plan_type', native_enum=False, length=20), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('monthly_price', sa.Integer(), nullable=False),
    sa.Column('cpu_milli', sa.Integer(), nullable=False),
    sa.Column('memory_mb', sa.Integer(), nullable=False),
    sa.Column('storage_gb', sa.Numeric(precision=8, scale=2), nullable=False),
    sa.Column('bandwidth', sa.Integer(), nullable=False),
    sa.Column('total_quota', sa.Integer(), nullable=False),
    sa.Column('used_quota', sa.Integer(), nullable=False),
    sa.Column('features', sa.JSON(), nullable=True),
    sa.Column('max_instances_per_user', sa.Integer(), nullable=False),
    sa.Column('max_domains', sa.Integer(), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('is_popular', sa.Boolean(), nullable=False),
    sa.Column('sort_order', sa.Integer(), nullable=False),
    sa.Column('id', sa.String(length=25), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('monthly_price >= 0', name=op.f('ck_service_plans_monthly_price_non_negative')),
    sa.CheckConstraint('total_quota >= 0', name=op.f('ck_service_plans_total_quota_non_negative')),
    sa.CheckConstraint('used_quota >= 0 AND used_quota <= total_quota', name=op.f('ck_service_plans_used_quota_within_total')),
    sa.ForeignKeyConstraint(['service_id'], ['services.id'], name=op.f('fk_service_plans_service_id_services'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service_plans')),
    sa.UniqueConstraint('service_id', 'plan_type', name='uq_service_plans_service_id_plan_type')
    )
    with op.batch_alter_table('service_plans', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_service_plans_service_id'), ['service_id'], unique=False)

    op.create_table('subscriptions',
    sa.Column('user_id', sa.String(length=25), nullable=False),
    sa.Column('service_id', sa.String(length=25), nullable=False),
    sa.Column('plan_id', sa.String(length=25), nullable=False),
    sa.Column('status', sa.Enum('ACTIVE', 'SUSPENDED', 'CANCELLED', 'EXPIRED', 'PENDING_UPGRADE', 'PENDING_PAYMENT', name='subscription_status', native_enum=False, length=20), nullable=False),
    sa.Column('start_date', sa.DateTime(timezone=True), nullable=False),
    sa.Column('end_date', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_billed', sa.DateTime(timezone=True), nullable=True),
    sa.Column('next_billing', sa.DateTime(timezone=True), nullable=True),
    sa.Column('monthly_price', sa.BigInteger(), nullable=False),
    sa.Column('last_charge_amount', sa.BigInteger(), nullable=True),
    sa.Column('failed_charges', sa.Integer(), nullable=False),
    sa.Column('previous_plan_id', sa.String(length=25), nullable=True),
    sa.Column('upgrade_date', sa.DateTime(timezone=True), nullable=True),
    sa.Column('auto_renew', sa.Boolean(), nullable=False),
    sa.Column('grace_period_end', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.String(length=25), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['plan_id'], ['service_plans.id'], name=op.f('fk_subscriptions_plan_id_service_plans'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['service_id'], ['services.id'], name=op.f('fk_subscriptions_service_id_services'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_subscriptions_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscriptions'))
    )
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.create_index('ix_subscriptions_plan_id_status', ['plan_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_subscriptions_service_id'), ['service_id'], unique=False)
        batch_op.create_index('ix_subscriptions_status_end_date', ['status', 'end_date'], unique=False)
        batch_op.create_index(batch_op.f('ix_subscriptions_user_id'), ['user_id'], unique=False)
        batch_op.create_index('uq_subscriptions_live_user_service', ['user_id', 'service_id'], unique=True, postgresql_where=sa.text("status IN ('ACTIVE', 'PENDING_UPGRADE', 'PENDING_PAYMENT')"), sqlite_where=sa.text("status IN ('ACTIVE', 'PENDING_UPGRADE', 'PENDING_PAYMENT')"))

    op.create_table('service_instances',
    sa.Column('subscription_id', sa.String(length=25), nullable=False),
    sa.Column('name', sa.String(length=63), nullable=False),
    sa.Column('subdomain', sa.String(length=253), nullable=False),
    sa.Column('namespace', sa.String(length=63), nullable=False),
    sa.Column('pod_name', sa.String(length=253), nullable=True),
    sa.Column('service_name', sa.String(length=63), nullable=True),
    sa.Column('ingress_name', sa.String(length=253), nullable=True),
    sa.Column('deployment_name', sa.String(length=63), nullable=True),
    sa.Column('status', sa.Enum('PENDING', 'PROVISIONING', 'RUNNING', 'STOPPED', 'ERROR', 'TERMINATED', 'MAINTENANCE', 'RESTARTING', 'STOPPING', 'STARTING', name='instance_status', native_enum=False, length=20), nullable=False),
    sa.Column('health_status', sa.Text(), nullable=True),
    sa.Column('last_health_check', sa.DateTime(timezone=True), nullable=True),
    sa.Column('env_vars', sa.JSON(), nullable=True),
    sa.Column('custom_domain', sa.String(length=253), nullable=True),
    sa.Column('ssl_enabled', sa.Boolean(), nullable=False),
    sa.Column('cpu_usage', sa.Numeric(precision=10, scale=2), nullable=True),
    sa.Column('memory_usage', sa.Numeric(precision=10, scale=2), nullable=True),
    sa.Column('storage_usage', sa.Numeric(precision=10, scale=2), nullable=True),
    sa.Column('public_url', sa.String(length=2048), nullable=True),
    sa.Column('admin_url', sa.String(length=2048), nullable=True),
    sa.Column('last_started', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_stopped', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.String(length=25), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['subscription_id'], ['subscriptions.id'], name=op.f('fk_service_instances_subscription_id_subscriptions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service_instances')),
    sa.UniqueConstraint('subdomain', name=op.f('uq_service_instances_subdomain'))
    )
    with op.batch_alter_table('service_instances', schema=None) as batch_op:
        batch_op.create_index('ix_service_instances_status', ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_service_instances_subscription_id'), ['subscription_id'], unique=False)
        batch_op.create_index('uq_service_instances_live_subscription', ['subscription_id'], unique=True, postgresql_where=sa.text("status <> 'TERMINATED'"), sqlite_where=sa.text("status <> 'TERMINATED'"))

    op.create_table('transactions',
    sa.Column('custom_id', sa.String(length=20), nullable=False),
    sa.Column('user_id', sa.String(length=25), nullable=False),
    sa.Column('type', sa.Enum('TOP_UP', 'SUBSCRIPTION', 'UPGRADE', 'REFUND', 'ADMIN_ADJUSTMENT', 'COUPON_REDEMPTION', name='transaction_type', native_enum=False, length=30), nullable=False),
    sa.Column('status', sa.Enum('PENDING', 'COMPLETED', 'FAILED', 'CANCELLED', 'REFUNDED', name='transaction_status', native_enum=False, length=20), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('balance_before', sa.BigInteger(), nullable=False),
    sa.Column('balance_after', sa.BigInteger(), nullable=False),
    sa.Column('payment_method', sa.String(length=40), nullable=True),
    sa.Column('payment_reference', sa.String(length=255), nullable=True),
    sa.Column('subscription_id', sa.String(length=25), nullable=True),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('metadata', sa.JSON(), nullable=True),
    sa.Column('processed_by', sa.String(length=25), nullable=True),
    sa.Column('admin_notes', sa.Text(), nullable=True),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.String(length=25), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount >= 0', name=op.f('ck_transactions_amount_non_negative')),
    sa.ForeignKeyConstraint(['subscription_id'], ['subscriptions.id'], name=op.f('fk_transactions_subscription_id_subscriptions'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_transactions_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transactions')),
    sa.UniqueConstraint('custom_id', name=op.f('uq_transactions_custom_id'))
    )
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_transactions_subscription_id'), ['subscription_id'], unique=False)
        batch_op.create_index('ix_transactions_type_status_created_at', ['type', 'status', 'created_at'], unique=False)
        batch_op.create_index('ix_transactions_user_id_created_at', ['user_id', 'created_at'], unique=False)



def downgrade():
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.drop_index('ix_transactions_user_id_created_at')
        batch_op.drop_index('ix_transactions_type_status_created_at')
        batch_op.drop_index(batch_op.f('ix_transactions_subscription_id'))

    op.drop_table('transactions')
    with op.batch_alter_table('service_instances', schema=None) as batch_op:
        batch_op.drop_index('uq_service_instances_live_subscription', postgresql_where=sa.text("status <> 'TERMINATED'"), sqlite_where=sa.text("status <> 'TERMINATED'"))
        batch_op.drop_index(batch_op.f('ix_service_instances_subscription_id'))
        batch_op.drop_index('ix_service_instances_status')

    op.drop_table('service_instances')
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_index('uq_subscriptions_live_user_service', postgresql_where=sa.text("status IN ('ACTIVE', 'PENDING_UPGRADE', 'PENDING_PAYMENT')"), sqlite_where=sa.text("status IN ('ACTIVE', 'PENDING_UPGRADE', 'PENDING_PAYMENT')"))
        batch_op.drop_index(batch_op.f('ix_subscriptions_user_id'))
        batch_op.drop_index('ix_subscriptions_status_end_date')
        batch_op.drop_index(batch_op.f('ix_subscriptions_service_id'))
        batch_op.drop_index('ix_subscriptions_plan_id_status')

    op.drop_table('subscriptions')
    with op.batch_alter_table('service_plans', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_service_plans_service_id'))

    op.drop_table('service_plans')
    with op.batch_alter_table('services', schema=None) as batch_op:
        batch_op.drop_index('ix_services_visible')
        batch_op.drop_index(batch_op.f('ix_services_category_id'))

    op.drop_table('services')
    with op.batch_alter_table('refresh_tokens', schema=None) as batch_op:
        batch_op.drop_index('ix_refresh_tokens_user_id')
        batch_op.drop_index(batch_op.f('ix_refresh_tokens_family_id'))
        batch_op.drop_index('ix_refresh_tokens_expires_at')

    op.drop_table('refresh_tokens')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index('ix_users_created_at')

    op.drop_table('users')
    op.drop_table('service_categories')
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_entries_target')
        batch_op.drop_index('ix_audit_entries_created_at')
        batch_op.drop_index(batch_op.f('ix_audit_entries_actor_id'))

    op.drop_table('audit_entries')
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP SEQUENCE IF EXISTS transaction_sequence")
