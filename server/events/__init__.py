"""The operator event stream: what happens on devices, as Server-Sent Events, across instances."""
