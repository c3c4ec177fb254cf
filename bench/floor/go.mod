module airlock.dev/bench/floor

go 1.22
