"""Device simulators, scenarios and load tests."""
