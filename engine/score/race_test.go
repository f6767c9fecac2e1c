//go:build race

package score

// raceEnabled: the race detector changes allocation counts, so allocation
// tests skip under -race (run them plainly: see the Taskfile).
const raceEnabled = true
