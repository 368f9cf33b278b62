"""Socket.IO delivery: authentication, room authorization, fan-out and resume."""
