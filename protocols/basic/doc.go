// Package basic provides protocols that cut a byte stream into messages, the
// building blocks of most line- and record-based protocols:
//
//   - LineReceiver: lines ending with a delimiter ("\r\n" unless set), with a
//     raw mode for protocols that mix lines and binary data (SetRawMode,
//     SetLineMode);
//   - Int8StringReceiver, Int16StringReceiver, Int32StringReceiver: strings
//     each preceded by its length as a big-endian integer of 1, 2 or 4 bytes
//     (all three are the generic PrefixedStringReceiver);
//   - NetstringReceiver: netstrings, "5:hello,".
//
// Each is a gyre.Protocol configured through fields holding callbacks: the
// message callback (Line, String), hooks for the connection's start and end
// (Connected, Lost) and for a peer that breaks the format (LineTooLong,
// Failed). Use one as it is, or embed it in a type of your own and point the
// callbacks at that type's methods. Each has a Send method (SendLine,
// SendString) that writes a message in its format, Transport to reach the
// connection, Err to learn why the receiver closed it, and LoseConnection to
// close it without delivering what is still buffered.
//
// The receivers avoid copying: a message that arrives whole inside one chunk
// of received data is handed over as a slice of that chunk, and only a message
// cut across chunks is buffered. So the slice a callback gets is valid only
// until the callback returns; copy what must be kept.
//
// A message over the receiver's MaxLength, and for netstrings a malformed one,
// is an error: the receiver stops delivering, reports an error wrapping
// ErrLineTooLong, ErrStringTooLong or ErrBadNetstring, and closes the
// connection with the transport's LoseConnection. The reason later passed to
// Lost wraps that error as well as the transport's. This bounds the memory a
// peer can make a receiver hold.
//
// Protocols are driven by a reactor on its loop goroutine; in tests,
// reactortest.StringTransport drives them without sockets, as the examples do.
package basic
