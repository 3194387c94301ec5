"""coupons

Revision ID: 0004_coupons
Revises: 0003_support_tickets
Create Date: 2026-11-21 23:53:14.935267

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004_coupons'
down_revision = '0003_support_tickets'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('coupons',
    sa.Column('code', sa.String(length=50), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('type', sa.Enum('CREDIT_TOPUP', 'SUBSCRIPTION_DISCOUNT', 'FREE_SERVICE', 'WELCOME_BONUS', name='coupon_type', native_enum=False, length=30), nullable=False),
    sa.Column('status', sa.Enum('ACTIVE', 'EXPIRED', 'DISABLED', 'USED_UP', name='coupon_status', native_enum=False, length=20), nullable=False),
    sa.Column('credit_amount', sa.BigInteger(), nullable=True),
    sa.Column('discount_type', sa.Enum('FIXED_AMOUNT', 'PERCENTAGE', name='coupon_discount_type', native_enum=False, length=20), nullable=True),
    sa.Column('discount_percent', sa.Integer(), nullable=True),
    sa.Column('max_uses', sa.Integer(), nullable=False),
    sa.Column('used_count', sa.Integer(), nullable=False),
    sa.Column('max_uses_per_user', sa.Integer(), nullable=False),
    sa.Column('service_id', sa.String(length=25), nullable=True),
    sa.Column('plan_type', sa.Enum('FREE', 'BASIC', 'PRO', 'PREMIUM', 'ENTERPRISE', name='plan_type', native_enum=False, length=20), nullable=True),
    sa.Column('valid_from', sa.DateTime(timezone=True), nullable=False),
    sa.Column('valid_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('id', sa.String(length=25), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('credit_amount IS NULL OR credit_amount > 0', name=op.f('ck_coupons_credit_amount_positive')),
    sa.CheckConstraint('discount_percent IS NULL OR (discount_percent BETWEEN 1 AND 100)', name=op.f('ck_coupons_discount_percent_range')),
    sa.CheckConstraint('max_uses >= 1', name=op.f('ck_coupons_max_uses_positive')),
    sa.CheckConstraint('max_uses_per_user >= 1', name=op.f('ck_coupons_max_uses_per_user_positive')),
    sa.CheckConstraint('used_count >= 0 AND used_count <= max_uses', name=op.f('ck_coupons_used_count_within_max_uses')),
    sa.ForeignKeyConstraint(['service_id'], ['services.id'], name=op.f('fk_coupons_service_id_services'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coupons')),
    sa.UniqueConstraint('code', name=op.f('uq_coupons_code'))
    )
    with op.batch_alter_table('coupons', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_coupons_service_id'), ['service_id'], unique=False)
        batch_op.create_index('ix_coupons_type_status', ['type', 'status'], unique=False)

    op.create_table('coupon_redemptions',
    sa.Column('coupon_id', sa.String(length=25), nullable=False),
    sa.Column('user_id', sa.String(length=25), nullable=False),
    sa.Column('redemption_type', sa.Enum('CREDIT_TOPUP', 'SUBSCRIPTION_DISCOUNT', 'FREE_SERVICE', 'WELCOME_BONUS', name='coupon_type', native_enum=False, length=30), nullable=False),
    sa.Column('credit_amount', sa.BigInteger(), nullable=True),
    sa.Column('discount_amount', sa.BigInteger(), nullable=True),
    sa.Column('transaction_id', sa.String(length=25), nullable=True),
    sa.Column('subscription_id', sa.String(length=25), nullable=True),
    sa.Column('metadata', sa.JSON(), nullable=True),
    sa.Column('redeemed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.String(length=25), nullable=False),
    sa.ForeignKeyConstraint(['coupon_id'], ['coupons.id'], name=op.f('fk_coupon_redemptions_coupon_id_coupons'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['subscription_id'], ['subscriptions.id'], name=op.f('fk_coupon_redemptions_subscription_id_subscriptions'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['transaction_id'], ['transactions.id'], name=op.f('fk_coupon_redemptions_transaction_id_transactions'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_coupon_redemptions_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coupon_redemptions')),
    sa.UniqueConstraint('coupon_id', 'user_id', name='uq_coupon_redemptions_coupon_id_user_id'),
    sa.UniqueConstraint('transaction_id', name=op.f('uq_coupon_redemptions_transaction_id'))
    )
    with op.batch_alter_table('coupon_redemptions', schema=None) as batch_op:
        batch_op.create_index('ix_coupon_redemptions_redeemed_at', ['redeemed_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_coupon_redemptions_subscription_id'), ['subscription_id'], unique=False)
        batch_op.create_index('ix_coupon_redemptions_user_id_redeemed_at', ['user_id', 'redeemed_at'], unique=False)



def downgrade():
    with op.batch_alter_table('coupon_redemptions', schema=None) as batch_op:
        batch_op.drop_index('ix_coupon_redemptions_user_id_redeemed_at')
        batch_op.drop_index(batch_op.f('ix_coupon_redemptions_subscription_id'))
        batch_op.drop_index('ix_coupon_redemptions_redeemed_at')

    op.drop_table('coupon_redemptions')
    with op.batch_alter_table('coupons', schema=None) as batch_op:
        batch_op.drop_index('ix_coupons_type_status')
        batch_op.drop_index(batch_op.f('ix_coupons_service_id'))

    op.drop_table('coupons')
