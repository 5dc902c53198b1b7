# The handler of the hello-shell example: $1 is the event (JSON); what it prints is the response.
# Its stderr goes to the function's logs, as a Lambda custom runtime's does.
handler() {
  echo "got event: $1" >&2
  printf '{"message": "Hello from a shell bootstrap!", "event": %s}' "$1"
}
