package axum

import "testing"

func TestLookupPath(t *testing.T) {
	tab := NewTable([]string{"/users/:id", "/health"})
	for _, tc := range []struct {
		req, probed string
		max         int
		ok          bool
		route       string
	}{
		{"/users/7", "/users/7", 256, true, "/users/:id"},
		{"/api/users/7", "/users/7", 256, true, "/api/users/:id"}, // nested router sees the tail
		{"/health", "/health", 256, true, "/health"},
		{"/users/7", "/users/", 7, true, "/users/:id"}, // a prefix copied of a long path (was given "//users/:id")
		{"/users/7", "users/7", 256, false, ""},        // not a path
		{"/users/7", "", 256, false, ""},
		{"/users/7", "/orders/7", 256, false, ""}, // another path: refused, not guessed
		{"/nope", "/nope", 256, true, ""},         // matched nothing
	} {
		prefix, match, ok := LookupPath(tc.req, tc.probed, tc.max)
		if ok != tc.ok {
			t.Errorf("LookupPath(%q, %q, %d) ok = %v, want %v", tc.req, tc.probed, tc.max, ok, tc.ok)
			continue
		}
		if !ok {
			continue
		}
		if got := Route(tab, prefix, match); got != tc.route {
			t.Errorf("Route for %q (probe saw %q) = %q, want %q", tc.req, tc.probed, got, tc.route)
		}
	}
}
