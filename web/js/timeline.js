// An orchestration's history (GET /api/jobs/{id}/history) as steps on a time axis:
// activities (with their retries), waits (sub-orchestrations), timers and raised events.

const ms = (iso) => (iso ? new Date(iso).getTime() : NaN);

export function steps(history) {
  const open = new Map(); // EventId → step waiting for its end
  const out = [];
  const lastOfName = new Map();
  for (const e of history || []) {
    const at = ms(e.Timestamp);
    switch (e.EventType) {
      case "TaskScheduled": {
        const previous = lastOfName.get(e.Name);
        const attempt = previous && previous.outcome === "failed" ? previous.attempt + 1 : 1;
        const step = { kind: "activity", name: e.Name, start: at, end: null, outcome: "running", attempt };
        open.set(e.EventId, step); out.push(step); lastOfName.set(e.Name, step);
        break;
      }
      case "SubOrchestrationInstanceCreated": {
        const step = { kind: "wait", name: e.Name, instanceId: e.InstanceId, start: at, end: null, outcome: "running",
          attempt: 1 };
        open.set(e.EventId, step); out.push(step);
        break;
      }
      case "TimerCreated": {
        const step = { kind: "timer", name: "timer", start: at, end: null, outcome: "waiting", attempt: 1,
          fireAt: ms(e.FireAt) };
        open.set(e.EventId, step); out.push(step);
        break;
      }
      case "TaskCompleted": case "SubOrchestrationInstanceCompleted": case "TimerFired": {
        const step = open.get(e.EventType === "TimerFired" ? e.TimerId : e.TaskScheduledId);
        if (step) { step.end = at; step.outcome = e.EventType === "TimerFired" ? "fired" : "completed"; }
        break;
      }
      case "TaskFailed": case "SubOrchestrationInstanceFailed": {
        const step = open.get(e.TaskScheduledId);
        if (step) { step.end = at; step.outcome = "failed"; step.reason = e.Reason || ""; }
        break;
      }
      case "EventRaised":
        out.push({ kind: "event", name: `event ${e.Name}`, start: at, end: at, outcome: "received", attempt: 1 });
        break;
      case "ExecutionTerminated":
        out.push({ kind: "event", name: "terminated", start: at, end: at, outcome: "terminated", attempt: 1 });
        break;
      case "ContinueAsNew":
        out.push({ kind: "event", name: "continued as new", start: at, end: at, outcome: "restarted", attempt: 1 });
        break;
      default:
        break;
    }
  }
  return out;
}

export function span(data, now = Date.now()) {
  const all = [data, ...(data.subOrchestrations || [])];
  const starts = all.map((d) => ms(d.createdTime)).filter(Number.isFinite);
  const events = all.flatMap((d) => d.history || []).map((e) => ms(e.Timestamp)).filter(Number.isFinite);
  const start = Math.min(...starts, ...events);
  const running = ["Running", "Pending"].includes(data.runtimeStatus);
  const end = Math.max(...events, ...all.map((d) => ms(d.lastUpdatedTime)).filter(Number.isFinite), running ? now : 0);
  return { start, end: end > start ? end : start + 1 };
}
