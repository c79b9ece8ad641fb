"""What every benchmark shares: targets, the simulated device, machine and quiet checks, statistics, the
command line, progress, the server process, plots."""
