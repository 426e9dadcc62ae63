"""Control posts, routings, incident categories (SLAs), incidents with their steps, alarms,
comments and escalations, work orders, crisis plans and their activation log.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TABLES = (
    "operations_setup",
    "control_posts",
    "post_routings",
    "incident_categories",
    "incidents",
    "incident_steps",
    "incident_alarms",
    "incident_comments",
    "incident_escalations",
    "work_orders",
    "crisis_plans",
    "crisis_activations",
)


def _territory() -> sa.Column[int]:
    return sa.Column("territory_id", sa.Integer,
                     sa.ForeignKey("territories.id", ondelete="CASCADE"), nullable=False)


def _incident() -> sa.Column[int]:
    return sa.Column("incident_id", sa.Integer,
                     sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "operations_setup",
        sa.Column("territory_id", sa.Integer, sa.ForeignKey("territories.id", ondelete="CASCADE"),
                  primary_key=True, autoincrement=False),
        sa.Column("defaults_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "control_posts",
        sa.Column("id", sa.Integer, primary_key=True),
        _territory(),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("name_fr", sa.String(200), nullable=False),
        sa.Column("name_en", sa.String(200), nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("territory_id", "code", name="uq_control_posts_territory_code"),
    )
    op.create_table(
        "post_routings",
        sa.Column("id", sa.Integer, primary_key=True),
        _territory(),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("post", sa.String(32), nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("territory_id", "kind", "key", name="uq_post_routings_key"),
    )
    op.create_table(
        "incident_categories",
        sa.Column("id", sa.Integer, primary_key=True),
        _territory(),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("title_fr", sa.String(200), nullable=False),
        sa.Column("title_en", sa.String(200), nullable=False),
        sa.Column("post", sa.String(32), nullable=False),
        sa.Column("sla_minutes", sa.JSON, nullable=False),
        sa.Column("auto_resolve", sa.Boolean, nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("territory_id", "code", name="uq_incident_categories_code"),
    )
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer, primary_key=True),
        _territory(),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("post", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("asset_urn", sa.String(256)),
        sa.Column("group_key", sa.String(300)),
        sa.Column("assignee_kind", sa.String(16)),
        sa.Column("assignee", sa.String(200)),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("reported_ms", sa.BigInteger, nullable=False),
        sa.Column("acknowledged_ms", sa.BigInteger),
        sa.Column("dispatched_ms", sa.BigInteger),
        sa.Column("on_site_ms", sa.BigInteger),
        sa.Column("resolved_ms", sa.BigInteger),
        sa.Column("closed_ms", sa.BigInteger),
        sa.Column("next_due_ms", sa.BigInteger),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_incidents_territory_state", "incidents", ["territory_id", "state"])
    op.create_index("ix_incidents_next_due", "incidents", ["next_due_ms"])
    op.create_index("ix_incidents_territory_group", "incidents",
                    ["territory_id", "category", "group_key"])
    op.create_table(
        "incident_steps",
        sa.Column("id", sa.Integer, primary_key=True),
        _territory(),
        _incident(),
        sa.Column("step", sa.String(16), nullable=False),
        sa.Column("at_ms", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
    )
    op.create_index("ix_incident_steps_incident", "incident_steps", ["incident_id"])
    op.create_table(
        "incident_alarms",
        _territory(),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id", ondelete="CASCADE"),
                  primary_key=True, autoincrement=False),
        sa.Column("alarm_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("rule_id", sa.String(128), nullable=False),
        sa.Column("asset_urn", sa.String(256)),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("raised_ms", sa.BigInteger, nullable=False),
        sa.Column("cleared_ms", sa.BigInteger),
    )
    op.create_index("ix_incident_alarms_alarm", "incident_alarms", ["territory_id", "alarm_id"])
    op.create_table(
        "incident_comments",
        sa.Column("id", sa.Integer, primary_key=True),
        _territory(),
        _incident(),
        sa.Column("at_ms", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
    )
    op.create_index("ix_incident_comments_incident", "incident_comments", ["incident_id"])
    op.create_table(
        "incident_escalations",
        sa.Column("id", sa.Integer, primary_key=True),
        _territory(),
        _incident(),
        sa.Column("step", sa.String(16), nullable=False),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("due_ms", sa.BigInteger, nullable=False),
        sa.Column("at_ms", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("incident_id", "step", name="uq_incident_escalations_step"),
    )
    op.create_table(
        "work_orders",
        sa.Column("id", sa.Integer, primary_key=True),
        _territory(),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id", ondelete="CASCADE")),
        sa.Column("post", sa.String(32), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("assignee_kind", sa.String(16), nullable=False),
        sa.Column("assignee", sa.String(200), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("accepted_ms", sa.BigInteger),
        sa.Column("on_site_ms", sa.BigInteger),
        sa.Column("done_ms", sa.BigInteger),
        sa.Column("cancelled_ms", sa.BigInteger),
        sa.Column("closure_note", sa.Text),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_work_orders_incident", "work_orders", ["incident_id"])
    op.create_index("ix_work_orders_territory_assignee", "work_orders",
                    ["territory_id", "assignee"])
    op.create_table(
        "crisis_plans",
        sa.Column("id", sa.Integer, primary_key=True),
        _territory(),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("post", sa.String(32), nullable=False),
        sa.Column("definition", sa.JSON, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("activated_ms", sa.BigInteger),
        sa.Column("activated_by", sa.String(200)),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("territory_id", "name", name="uq_crisis_plans_name"),
    )
    op.create_table(
        "crisis_activations",
        sa.Column("id", sa.Integer, primary_key=True),
        _territory(),
        sa.Column("plan", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("at_ms", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("outcome", sa.JSON, nullable=False),
    )
    op.create_index("ix_crisis_activations_territory", "crisis_activations",
                    ["territory_id", "plan"])


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)
