# dev: scale to zero where possible, no replica, easy teardown.
redis = {
  tier           = "BASIC"
  memory_size_gb = 1
}
scaling = {
  server = { min = 0, max = 2 }
  bot    = { min = 0, max = 1 }
  worker = { min = 1, max = 1 }
  beat   = { min = 1, max = 1 }
}
deletion_protection = false
