package main

import "testing"

func TestUsageBar(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		used, limit int64
		want        string
	}{
		{0, 10, "░░░░░░░░░░"},
		{5, 10, "█████░░░░░"},
		{10, 10, "██████████"},
		{15, 10, "██████████ over"},
		{3, 0, "·········· unlimited"},
	} {
		if got := bar(c.used, c.limit, 10); got != c.want {
			t.Errorf("bar(%d, %d) = %q, want %q", c.used, c.limit, got, c.want)
		}
	}
	if got := money(123456); got != "$1234.56" {
		t.Errorf("money: %q", got)
	}
}
