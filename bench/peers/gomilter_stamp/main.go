// gomilter_stamp is the "stamp" benchmark milter written against
// github.com/emersion/go-milter (Debian's 0.3.3), the way a typical user
// writes it: every callback continues, end of message adds "X-Bench: 1".
//
// Usage: gomilter_stamp PORT | unix:/PATH
//
// PORT listens on TCP 127.0.0.1:PORT only; unix:/PATH listens on that UNIX
// stream socket only (a stale socket file there is removed first; closing
// the listener on SIGTERM/SIGINT removes the file again).
package main

import (
	"fmt"
	"net"
	"net/textproto"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/emersion/go-milter"
)

type stamp struct{}

func (stamp) Connect(host string, family string, port uint16, addr net.IP, m *milter.Modifier) (milter.Response, error) {
	return milter.RespContinue, nil
}

func (stamp) Helo(name string, m *milter.Modifier) (milter.Response, error) {
	return milter.RespContinue, nil
}

func (stamp) MailFrom(from string, m *milter.Modifier) (milter.Response, error) {
	return milter.RespContinue, nil
}

func (stamp) RcptTo(rcptTo string, m *milter.Modifier) (milter.Response, error) {
	return milter.RespContinue, nil
}

func (stamp) Header(name string, value string, m *milter.Modifier) (milter.Response, error) {
	return milter.RespContinue, nil
}

func (stamp) Headers(h textproto.MIMEHeader, m *milter.Modifier) (milter.Response, error) {
	return milter.RespContinue, nil
}

func (stamp) BodyChunk(chunk []byte, m *milter.Modifier) (milter.Response, error) {
	return milter.RespContinue, nil
}

func (stamp) Body(m *milter.Modifier) (milter.Response, error) {
	if err := m.AddHeader("X-Bench", "1"); err != nil {
		return nil, err
	}
	return milter.RespContinue, nil
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintf(os.Stderr, "usage: %s PORT | unix:/PATH\n", os.Args[0])
		os.Exit(64)
	}
	var network, address string
	if strings.HasPrefix(os.Args[1], "unix:") {
		path := strings.TrimPrefix(os.Args[1], "unix:")
		if !strings.HasPrefix(path, "/") {
			fmt.Fprintf(os.Stderr, "%s: bad socket path %q (must be absolute)\n", os.Args[0], path)
			os.Exit(64)
		}
		if len(path) >= 108 { // sun_path, with its NUL
			fmt.Fprintf(os.Stderr, "%s: socket path %q too long\n", os.Args[0], path)
			os.Exit(64)
		}
		// Remove a stale socket file, but nothing else that is there.
		if fi, err := os.Stat(path); err == nil {
			if fi.Mode()&os.ModeSocket == 0 {
				fmt.Fprintf(os.Stderr, "%s: %s exists and is not a socket\n", os.Args[0], path)
				os.Exit(1)
			}
			if err := os.Remove(path); err != nil {
				fmt.Fprintf(os.Stderr, "%s: %v\n", os.Args[0], err)
				os.Exit(1)
			}
		}
		network, address = "unix", path
	} else {
		port, err := strconv.Atoi(os.Args[1])
		if err != nil || port < 1 || port > 65535 {
			fmt.Fprintf(os.Stderr, "%s: bad port %q\n", os.Args[0], os.Args[1])
			os.Exit(64)
		}
		network, address = "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	}

	// A "unix" listener from net.Listen unlinks its file when closed.
	ln, err := net.Listen(network, address)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", os.Args[0], err)
		os.Exit(1)
	}

	srv := &milter.Server{
		NewMilter: func() milter.Milter { return stamp{} },
		Actions:   milter.OptAddHeader,
		Protocol:  0,
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sigs
		srv.Close()
	}()

	if err := srv.Serve(ln); err != nil && err != milter.ErrServerClosed {
		fmt.Fprintf(os.Stderr, "%s: %v\n", os.Args[0], err)
		os.Exit(1)
	}
}
