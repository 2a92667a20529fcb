function handler () {
  EVENT_DATA=$1
  echo "{\"echoed_bytes\": ${#EVENT_DATA}}"
}
