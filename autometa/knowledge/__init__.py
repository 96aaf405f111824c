"""The knowledge base: earlier tasks, the configurations tried on them, how they scored.

:class:`KnowledgeBase` stores them (SQLite or any SQLAlchemy database) and reads and
writes the JSON Lines format; the shipped base, building a base from a corpus of
datasets, and leave-one-task-out evaluation of meta-learners live beside it.
"""

from autometa.knowledge._base import KnowledgeBase, ScoreTable, TaskRecord
from autometa.knowledge._format import KnowledgeBaseError

__all__ = ["KnowledgeBase", "KnowledgeBaseError", "ScoreTable", "TaskRecord"]
