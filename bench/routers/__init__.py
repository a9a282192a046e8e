"""The bench's reference routers: the null floor and the minimal ceiling."""
