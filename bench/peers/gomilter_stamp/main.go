// gomilter_stamp is the "stamp" benchmark milter written against
// github.com/emersion/go-milter (Debian's 0.3.3), the way a typical user
// writes it: every callback continues, end of message adds "X-Bench: 1".
//
// Usage: gomilter_stamp PORT   (listens on 127.0.0.1:PORT only)
package main

import (
	"fmt"
	"net"
	"net/textproto"
	"os"
	"os/signal"
	"strconv"
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
		fmt.Fprintf(os.Stderr, "usage: %s PORT\n", os.Args[0])
		os.Exit(64)
	}
	port, err := strconv.Atoi(os.Args[1])
	if err != nil || port < 1 || port > 65535 {
		fmt.Fprintf(os.Stderr, "%s: bad port %q\n", os.Args[0], os.Args[1])
		os.Exit(64)
	}

	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
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
