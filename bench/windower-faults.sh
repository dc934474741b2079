#!/bin/bash
# One windowing fault scenario against a real core process (in-process logs, no forecaster), its own
# Mosquitto (loopback, persistence) and a scratch database on the PostgreSQL server at 127.0.0.1:5432:
#   broker  100 generator sensors at 1 Hz for 150 s; Mosquitto stopped at 30 s, restarted 11 s later
#   sigstop the same; the core SIGSTOPped at 30 s for 30 s
#   slow15  20 sensors reporting every 15 s for 180 s (slow60: every 60 s for 240 s)
# Prints the core's reading/late/window counters and what PostgreSQL holds (windows, readings in them, dead
# letters by reason). Usage: bench/windower-faults.sh REPO_DIR LABEL [broker|sigstop|slow15|slow60] [MQTT_PORT]
# (LABEL names the scratch database h_win_fault_LABEL and the work directory /tmp/winfault/LABEL.)
set -u
REPO=$1; LABEL=$2; FAULT=${3:-broker}; PORT=${4:-18831}; HPORT=$((PORT+300)); RATE=1; DURATION=150; SENSORS=100
case $FAULT in slow15) RATE=0.0666667; DURATION=180; SENSORS=20;; slow60) RATE=0.0166667; DURATION=240; SENSORS=20;; esac
 DIR=/tmp/winfault/$LABEL; rm -rf $DIR; mkdir -p $DIR/mq
DB=h_win_fault_$LABEL
psql -q -h 127.0.0.1 -U postgres -c "drop database if exists $DB" -c "create database $DB" >/dev/null
cat > $DIR/mq.conf <<CONF
listener $PORT 127.0.0.1
allow_anonymous true
persistence true
persistence_location $DIR/mq/
CONF
mosquitto -c $DIR/mq.conf > $DIR/mq.log 2>&1 & MQ=$!
sleep 1
cd $REPO
MQTT_URL=mqtt://127.0.0.1:$PORT MQTT_CLIENT_ID=core-fault-$LABEL DATABASE_URL=postgres://postgres@127.0.0.1:5432/$DB \
  CORE_FORECAST=false CORE_HTTP_PORT=$HPORT TOPIC_PREFIX=f bun apps/core.ts > $DIR/core.log 2>&1 & CORE=$!
sleep 6
bun apps/edge.ts --mqtt-url mqtt://127.0.0.1:$PORT --source generator --sensors $SENSORS --rate $RATE --start now --duration $DURATION --speed 1 \
  --topic-prefix f --http-port 0 > $DIR/edge.log 2>&1 & EDGE=$!
sleep 30
if [ $FAULT = slow15 ] || [ $FAULT = slow60 ]; then :
elif [ $FAULT = broker ]; then
kill $MQ; wait $MQ; echo "broker down $(date +%T)"
sleep 11
mosquitto -c $DIR/mq.conf >> $DIR/mq.log 2>&1 & MQ=$!
echo "broker up $(date +%T)"
else
kill -STOP $CORE; echo "core stopped $(date +%T)"; sleep 30; kill -CONT $CORE; echo "core continued $(date +%T)"
fi
wait $EDGE
sleep 25
curl -s localhost:$HPORT/metrics | grep -E "^core_(late_readings_total|readings_total|windows_emitted_total|windows_stored_total|sensors_tracked)" 
kill -TERM $CORE; wait $CORE
psql -h 127.0.0.1 -U postgres -d $DB -At -c "select 'windows', count(*), sum(count) from windows" -c "select 'dead', reason, count(*) from dead_letters group by reason"
grep -o '"readingsSent[^,]*\|"sent[^,]*\|readings[^,]*,' $DIR/edge.log | tail -3
kill $MQ; wait $MQ 2>/dev/null
psql -q -h 127.0.0.1 -U postgres -c "drop database if exists $DB"
