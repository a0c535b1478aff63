# prod: a warm server, Redis with a replica and failover, nothing deletable by accident.
redis = {
  tier           = "STANDARD_HA"
  memory_size_gb = 2
}
scaling = {
  server = { min = 1, max = 5 }
  bot    = { min = 1, max = 3 }
  worker = { min = 1, max = 4 }
  beat   = { min = 1, max = 1 }
}
deletion_protection = true
