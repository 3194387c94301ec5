"""instance health failures

Revision ID: 0005_instance_health
Revises: 0004_coupons
Create Date: 2026-11-22 00:21:02.841039

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005_instance_health'
down_revision = '0004_coupons'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('service_instances', schema=None) as batch_op:
        batch_op.add_column(sa.Column('health_failures', sa.Integer(), server_default=sa.text('0'), nullable=False))



def downgrade():
    with op.batch_alter_table('service_instances', schema=None) as batch_op:
        batch_op.drop_column('health_failures')

