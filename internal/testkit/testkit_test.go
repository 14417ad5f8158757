package testkit

import (
	"errors"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
)

func TestReason(t *testing.T) {
	notFound := pb.ErrorReason_ERROR_REASON_SESSION_NOT_FOUND
	withInfo := func(domain string) error {
		st, err := status.New(codes.NotFound, "gone").WithDetails(
			&errdetails.ErrorInfo{Domain: domain, Reason: notFound.Wire()},
			&errdetails.RetryInfo{RetryDelay: durationpb.New(time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		return st.Err()
	}
	tests := []struct {
		name       string
		err        error
		wantCode   codes.Code
		wantReason string
		wantRetry  bool
	}{
		{"nil", nil, codes.OK, "", false},
		{"mongogate's domain", withInfo(ErrorDomain), codes.NotFound, notFound.Wire(), true},
		{"another domain", withInfo("example.com"), codes.NotFound, "", true},
		{"not a status", errors.New("plain"), codes.Unknown, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, reason := Reason(tt.err)
			if code != tt.wantCode || reason != tt.wantReason {
				t.Errorf("Reason = %v %q, want %v %q", code, reason, tt.wantCode, tt.wantReason)
			}
			if got := IsReason(tt.err, codes.NotFound, notFound); got != (tt.wantReason != "") {
				t.Errorf("IsReason = %v", got)
			}
			if got := RetryInfo(tt.err) != nil; got != tt.wantRetry {
				t.Errorf("RetryInfo present = %v, want %v", got, tt.wantRetry)
			}
		})
	}
	WantReason(t, "a mongogate error", withInfo(ErrorDomain), codes.NotFound, notFound)
}

func TestWaitFor(t *testing.T) {
	n := 0
	WaitFor(t, time.Second, "the third check", func() error {
		if n++; n < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if n != 3 {
		t.Errorf("cond ran %d times, want 3", n)
	}
}

func TestClock(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	c := NewClock(at)
	c.Add(time.Minute)
	if got := c.Now(); !got.Equal(at.Add(time.Minute)) {
		t.Errorf("Now = %v, want %v", got, at.Add(time.Minute))
	}
}
