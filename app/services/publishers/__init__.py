"""Publishers turn a schedule's content snapshot into posts on one platform."""
