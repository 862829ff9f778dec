"""Unit tests of changeover.loadgen."""
