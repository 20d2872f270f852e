"""Tools that build and check the course: the chapters' MyST, the two builders, the
walkthrough test. Not part of any implementation."""
