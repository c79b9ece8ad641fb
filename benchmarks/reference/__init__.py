"""A stock pipecat voice bot with this server's models, to measure this server against."""
