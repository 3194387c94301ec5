"""password reset tokens, outbox request ids

Revision ID: 0006_reset_tokens_request_ids
Revises: 0005_instance_health
Create Date: 2026-11-22 02:02:39.053894

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006_reset_tokens_request_ids'
down_revision = '0005_instance_health'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('password_reset_tokens',
    sa.Column('user_id', sa.String(length=25), nullable=False),
    sa.Column('token_digest', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('requested_ip', sa.String(length=45), nullable=True),
    sa.Column('id', sa.String(length=25), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_password_reset_tokens_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_password_reset_tokens')),
    sa.UniqueConstraint('token_digest', name=op.f('uq_password_reset_tokens_token_digest'))
    )
    with op.batch_alter_table('password_reset_tokens', schema=None) as batch_op:
        batch_op.create_index('ix_password_reset_tokens_expires_at', ['expires_at'], unique=False)
        batch_op.create_index('ix_password_reset_tokens_user_id', ['user_id'], unique=False)

    with op.batch_alter_table('job_outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('request_id', sa.String(length=64), nullable=True))



def downgrade():
    with op.batch_alter_table('job_outbox', schema=None) as batch_op:
        batch_op.drop_column('request_id')

    with op.batch_alter_table('password_reset_tokens', schema=None) as batch_op:
        batch_op.drop_index('ix_password_reset_tokens_user_id')
        batch_op.drop_index('ix_password_reset_tokens_expires_at')

    op.drop_table('password_reset_tokens')
