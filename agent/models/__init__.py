"""The whole Overture domain as SQLAlchemy 2 typed models."""

from agent.models.base import Base
from agent.models.campaign import Analysis, CallerNumber, Campaign, CampaignVersion, Channel, ChannelAudience, Goal
from agent.models.contact import Contact, Enrollment, Suppression
from agent.models.conversation import AnalysisAnswer, Conversation, ConversationTurn, Evaluation, GoalResult
from agent.models.inbound import EmailImport, InboundMessage
from agent.models.jobs import ActivityEvent, ExportChunk, ExportJob, ImportJob, PlanningRun, PlanningRunItem
from agent.models.outreach import Outreach, OutreachRevision
from agent.models.schedule import Schedule
from agent.models.stats import StatsCount, StatsMark
from agent.models.task import Task
from agent.models.workspace import ApiKey, IdempotencyRecord, WebSession, Workspace

__all__ = [
    "ActivityEvent", "Analysis", "AnalysisAnswer", "ApiKey", "Base", "CallerNumber", "Campaign", "CampaignVersion",
    "Channel", "ChannelAudience", "Contact", "Conversation", "ConversationTurn", "Enrollment", "Evaluation", "ExportChunk", "ExportJob",
    "Goal", "GoalResult", "EmailImport", "IdempotencyRecord", "ImportJob", "InboundMessage", "Outreach", "OutreachRevision",
    "PlanningRun", "PlanningRunItem", "Schedule", "StatsCount", "StatsMark", "Suppression", "Task", "WebSession", "Workspace",
]
