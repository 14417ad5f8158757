package mongogate

import (
	"context"

	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
)

// Hooks for the black-box tests in package mongogate_test.

// Token returns the session's secret token.
func Token(s *Session) string { return s.token }

// GetSessionByToken calls GetSession for token on c's server, bypassing
// the Session's local checks.
func GetSessionByToken(ctx context.Context, c *Client, token string) error {
	_, err := c.sessions.GetSession(ctx, &pb.GetSessionRequest{SessionToken: token})
	return fromStatus(err)
}

// FromStatus is fromStatus.
var FromStatus = fromStatus

// IsLoopback is isLoopback.
var IsLoopback = isLoopback

// BackoffCeiling is backoffCeiling.
var BackoffCeiling = backoffCeiling

// KeptSessions is how many sessions c's keep-alive schedules.
func KeptSessions(c *Client) int {
	c.keeper.mu.Lock()
	defer c.keeper.mu.Unlock()
	return len(c.keeper.due)
}
