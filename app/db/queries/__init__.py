"""Named queries, by resource. Python never builds SQL: filters are parameters, optional ones tested for
NULL; a constant is composed of constants only. One module per part of the service; every name is here."""

from app.db.queries.engine import *  # noqa: F403
from app.db.queries.events import *  # noqa: F403
from app.db.queries.platforms import *  # noqa: F403
from app.db.queries.social import *  # noqa: F403
