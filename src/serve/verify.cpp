// Filled in by the serving work (issue 11).
