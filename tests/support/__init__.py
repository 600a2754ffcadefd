"""What the tests and the benchmarks share: request factories, a real redis-server on loopback, a
`dispatch serve` process, local servers speaking Google's and Twilio's APIs, test certificates."""
