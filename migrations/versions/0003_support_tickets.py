"""support tickets

Revision ID: 0003_support_tickets
Revises: 0002_outbox_notifications
Create Date: 2026-11-21 23:46:09.329000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003_support_tickets'
down_revision = '0002_outbox_notifications'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        # Ticket numbers (#001); SQLite takes max+1 inside its serialised write transaction.
        op.execute("CREATE SEQUENCE IF NOT EXISTS ticket_number_seq START WITH 1")
    op.create_table('tickets',
    sa.Column('ticket_number', sa.Integer(), nullable=False),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('status', sa.Enum('OPEN', 'IN_PROGRESS', 'CLOSED', name='ticket_status', native_enum=False, length=20), nullable=False),
    sa.Column('user_id', sa.String(length=25), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_by', sa.String(length=25), nullable=True),
    sa.Column('waiting_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.String(length=25), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_tickets_user_id_users'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tickets')),
    sa.UniqueConstraint('ticket_number', name=op.f('uq_tickets_ticket_number'))
    )
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.create_index('ix_tickets_status', ['status'], unique=False)
        batch_op.create_index('ix_tickets_user_id_created_at', ['user_id', 'created_at'], unique=False)
        batch_op.create_index('ix_tickets_waiting_since', ['waiting_since'], unique=False)

    op.create_table('ticket_messages',
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('is_admin_reply', sa.Boolean(), nullable=False),
    sa.Column('ticket_id', sa.String(length=25), nullable=False),
    sa.Column('author_id', sa.String(length=25), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.String(length=25), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_ticket_messages_author_id_users'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_ticket_messages_ticket_id_tickets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_messages'))
    )
    with op.batch_alter_table('ticket_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticket_messages_author_id'), ['author_id'], unique=False)
        batch_op.create_index('ix_ticket_messages_ticket_id_created_at', ['ticket_id', 'created_at'], unique=False)

    op.create_table('ticket_attachments',
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('storage_key', sa.String(length=255), nullable=False),
    sa.Column('file_size', sa.Integer(), nullable=False),
    sa.Column('mime_type', sa.String(length=20), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.String(length=25), nullable=True),
    sa.Column('message_id', sa.String(length=25), nullable=True),
    sa.Column('uploaded_by', sa.String(length=25), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.String(length=25), nullable=False),
    sa.CheckConstraint('(ticket_id IS NULL) <> (message_id IS NULL)', name=op.f('ck_ticket_attachments_exactly_one_parent')),
    sa.ForeignKeyConstraint(['message_id'], ['ticket_messages.id'], name=op.f('fk_ticket_attachments_message_id_ticket_messages'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_ticket_attachments_ticket_id_tickets'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['uploaded_by'], ['users.id'], name=op.f('fk_ticket_attachments_uploaded_by_users'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_attachments')),
    sa.UniqueConstraint('storage_key', name=op.f('uq_ticket_attachments_storage_key'))
    )
    with op.batch_alter_table('ticket_attachments', schema=None) as batch_op:
        batch_op.create_index('ix_ticket_attachments_message_id', ['message_id'], unique=False)
        batch_op.create_index('ix_ticket_attachments_ticket_id', ['ticket_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticket_attachments_uploaded_by'), ['uploaded_by'], unique=False)




def downgrade():
    with op.batch_alter_table('ticket_attachments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_attachments_uploaded_by'))
        batch_op.drop_index('ix_ticket_attachments_ticket_id')
        batch_op.drop_index('ix_ticket_attachments_message_id')

    op.drop_table('ticket_attachments')
    with op.batch_alter_table('ticket_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_ticket_messages_ticket_id_created_at')
        batch_op.drop_index(batch_op.f('ix_ticket_messages_author_id'))

    op.drop_table('ticket_messages')
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_waiting_since')
        batch_op.drop_index('ix_tickets_user_id_created_at')
        batch_op.drop_index('ix_tickets_status')

    op.drop_table('tickets')
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP SEQUENCE IF EXISTS ticket_number_seq")
