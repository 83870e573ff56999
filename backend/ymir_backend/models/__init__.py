"""The ORM models, one module per resource; importing this package registers them all."""

from ymir_backend.models.datasets import DatasetGroup, DatasetVersion
from ymir_backend.models.images import ExecutorImage
from ymir_backend.models.iterations import Iteration, IterationStep
from ymir_backend.models.mlmodels import ModelGroup, ModelStage, ModelVersion
from ymir_backend.models.projects import Label, Project, ProjectMember
from ymir_backend.models.tasks import Task
from ymir_backend.models.users import ApiToken, RefreshToken, User

__all__ = [
    "ApiToken",
    "DatasetGroup",
    "DatasetVersion",
    "ExecutorImage",
    "Iteration",
    "IterationStep",
    "Label",
    "ModelGroup",
    "ModelStage",
    "ModelVersion",
    "Project",
    "ProjectMember",
    "RefreshToken",
    "Task",
    "User",
]
