// The console page: sign in, pick a device, talk to it, and show what its voice loop says and measures.

import { Api, describe, devicePath } from "./api.js";
import { Call } from "./call.js";
import { Transcript } from "./transcript.js";

const STAGES = ["turn_end", "transcript_final", "first_token", "first_audio", "first_byte_sent"];
const MAX_EVENTS = 100;
const STATS_EVERY_MS = 1000;

const $ = (id) => document.getElementById(id);

const state = {
  api: null,
  operator: false,
  deviceId: null,
  personas: new Map(),
  call: null,
  statsTimer: null,
  transcript: new Transcript($("transcript"), (id) => personaName(id || $("persona-current").dataset.personaId)),
};

function personaName(id) {
  return (id && state.personas.get(id)) || id || "Persona";
}

function showError(text) {
  const box = $("error");
  box.textContent = text;
  box.hidden = !text;
}

function show(section) {
  for (const id of ["sign-in", "pick-device", "console"]) $(id).hidden = id !== section;
}

// Sign-in

function onKindChange() {
  const operator = document.querySelector('input[name="kind"]:checked').value === "operator";
  $("device-id-row").hidden = operator;
  $("device-id").required = !operator;
}

async function onSignIn(event) {
  event.preventDefault();
  showError("");
  const operator = document.querySelector('input[name="kind"]:checked').value === "operator";
  const token = $("token").value.trim();
  const api = new Api(token);
  $("sign-in-button").disabled = true;
  try {
    if (operator) {
      const devices = await api.all("/devices", "devices");
      state.api = api;
      state.operator = true;
      fillDevices(devices);
      show("pick-device");
      $("device-select").focus();
    } else {
      const deviceId = $("device-id").value.trim();
      await openDevice(api, deviceId);
    }
    $("token").value = "";
  } catch (error) {
    showError(`Sign-in failed: ${describe(error)}`);
    $("token").focus();
  } finally {
    $("sign-in-button").disabled = false;
  }
}

function fillDevices(devices) {
  const select = $("device-select");
  select.replaceChildren();
  for (const device of devices) {
    const option = document.createElement("option");
    option.value = device.device_id;
    option.textContent = `${device.name} — ${device.device_id} (${device.status})`;
    select.append(option);
  }
  $("device-count").textContent = devices.length
    ? `${devices.length} registered device${devices.length === 1 ? "" : "s"}`
    : "No device is registered: register one with POST /v1/devices.";
}

async function onPickDevice(event) {
  event.preventDefault();
  showError("");
  try {
    await openDevice(state.api, $("device-select").value);
  } catch (error) {
    showError(`Could not open the device: ${describe(error)}`);
  }
}

async function openDevice(api, deviceId) {
  const device = await api.request("GET", devicePath(deviceId));
  const deviceState = await api.request("GET", devicePath(deviceId, "/state"));
  const personas = await api.all("/personas", "personas");
  state.api = api;
  state.deviceId = deviceId;
  state.personas = new Map(personas.map((p) => [p.id, p.name]));
  fillPersonas(personas);
  $("device-name").textContent = `${device.name} (${device.device_id})`;
  $("device-status").textContent = deviceState.status;
  setPersona(deviceState.active_persona_id);
  $("who").textContent = `${state.operator ? "Operator" : "Device"} · ${device.device_id}`;
  $("who").hidden = false;
  $("sign-out").hidden = false;
  $("instance-latency").hidden = !state.operator;
  show("console");
  $("talk-title").setAttribute("tabindex", "-1");
  $("talk-title").focus();
  if (state.operator) refreshMetrics();
}

function fillPersonas(personas) {
  const select = $("persona-select");
  select.replaceChildren();
  for (const persona of personas) {
    const option = document.createElement("option");
    option.value = persona.id;
    option.textContent = `${persona.name} (${persona.id})`;
    select.append(option);
  }
}

function setPersona(id) {
  $("persona-current").textContent = id ? `${personaName(id)} (${id})` : "none";
  $("persona-current").dataset.personaId = id || "";
  if (id) $("persona-select").value = id;
}

function signOut() {
  state.api = null;
  stopCall();
  state.operator = false;
  state.deviceId = null;
  state.transcript.clear();
  $("latency").tBodies[0].replaceChildren();
  $("events").replaceChildren();
  $("who").hidden = true;
  $("sign-out").hidden = true;
  showError("");
  show("sign-in");
  $("token").focus();
}

// The call

async function startCall() {
  showError("");
  $("start").disabled = true;
  const call = new Call({
    api: state.api,
    deviceId: state.deviceId,
    audio: $("reply-audio"),
    onMessage: onMessage,
    onState: onCallState,
  });
  state.call = call;
  try {
    await call.start();
    $("stop").disabled = false;
    state.statsTimer = setInterval(updateStats, STATS_EVERY_MS);
  } catch (error) {
    call.stop();
    state.call = null;
    $("start").disabled = false;
    showError(`Could not start talking: ${describe(error)}`);
  }
}

function stopCall() {
  clearInterval(state.statsTimer);
  state.statsTimer = null;
  const wasOpen = state.call !== null;
  if (state.call) state.call.stop();
  state.call = null;
  $("start").disabled = false;
  $("stop").disabled = true;
  if (wasOpen && state.api) refreshStatus();
}

async function refreshStatus() {
  try {
    const deviceState = await state.api.request("GET", devicePath(state.deviceId, "/state"));
    $("device-status").textContent = deviceState.status;
  } catch {
    // The status shown stays as it was; the next sign-in reads it again.
  }
}

const ENDED = ["failed", "closed", "data channel closed"];

function onCallState(text) {
  if (ENDED.includes(text) && state.call) {
    stopCall();
  }
  $("call-state").textContent = text;
  const open = state.call !== null && state.call.open;
  for (const id of ["text-input", "send-text", "stop-reply"]) $(id).disabled = !open;
}

async function updateStats() {
  if (!state.call) return;
  const stats = await state.call.stats();
  const bytes = $("stat-bytes");
  bytes.textContent = stats.bytes.toLocaleString("en");
  bytes.dataset.value = String(stats.bytes);
  const energy = $("stat-energy");
  energy.textContent = stats.energy.toFixed(4);
  energy.dataset.value = String(stats.energy);
  $("stat-level").value = stats.level;
}

function onSendText(event) {
  event.preventDefault();
  const input = $("text-input");
  const text = input.value.trim();
  if (!text || !state.call) return;
  if (state.call.send("text_input", { text })) {
    state.transcript.typed(text);
    input.value = "";
  }
}

function onStopReply() {
  if (state.call) state.call.send("button_press", { button: "stop", action: "press" });
}

// Messages from the device's voice loop

function onMessage(message) {
  const { type, payload } = message;
  switch (type) {
    case "connected":
      setPersona(payload.active_persona_id);
      $("device-status").textContent = "online";
      break;
    case "transcript":
      state.transcript.heard(payload);
      break;
    case "audio_response":
      state.transcript.reply(payload);
      if (payload.final) {
        addLatencyRow(payload);
        if (state.operator) refreshMetrics();
      }
      break;
    case "stop_playback":
      state.transcript.cut();
      break;
    case "led_control":
      setLed(payload);
      break;
    case "persona_switch":
      setPersona(payload.persona_id);
      state.transcript.note(`Persona switched to ${personaName(payload.persona_id)}.`);
      break;
    case "error":
      showError(`The device's voice loop answered: ${payload.error_code}: ${payload.message}`);
      break;
    case "close":
      // The server's last message before it closes the peer (e.g. 4409: the device connected again).
      showError(`The server ended the call: ${payload.code} ${payload.reason || ""}`.trim());
      queueMicrotask(() => {
        stopCall();
        $("call-state").textContent = `ended by the server (${payload.code})`;
      });
      break;
    default:
      break;
  }
  if (type !== "heartbeat_ack" && !(type === "audio_response" && !payload.final)) logEvent(message);
}

function setLed(payload) {
  const led = $("led");
  const ledState = typeof payload.state === "string" ? payload.state : "command";
  led.textContent = ledState;
  led.dataset.state = ledState;
  const rest = Object.fromEntries(Object.entries(payload).filter(([key]) => key !== "state"));
  $("led-detail").textContent = Object.keys(rest).length ? JSON.stringify(rest) : "";
}

function addLatencyRow(payload) {
  const row = document.createElement("tr");
  const cells = [payload.turn_id || "—", payload.turn_end_rule || (payload.turn_id ? "typed or spoken line" : "—")];
  const latency = payload.latency_ms;
  if (latency && typeof latency === "object") {
    for (const stage of STAGES) cells.push(typeof latency[stage] === "number" ? Math.round(latency[stage]) : "—");
  } else {
    cells.push("—", "—", "—", "—", typeof latency === "number" ? `${latency} (reply ready)` : "—");
  }
  for (const value of cells) {
    const cell = document.createElement("td");
    cell.textContent = String(value);
    row.append(cell);
  }
  $("latency").tBodies[0].append(row);
}

async function refreshMetrics() {
  if (!state.api || !state.operator) return;
  try {
    const summary = await state.api.request("GET", "/metrics/latency");
    const body = $("instance-latency-table").tBodies[0];
    body.replaceChildren();
    for (const [stage, s] of Object.entries(summary.stages_from_speech_end)) {
      const row = document.createElement("tr");
      for (const value of [stage, s.count, s.p50_ms, s.p90_ms, s.p99_ms]) {
        const cell = document.createElement("td");
        cell.textContent = String(value);
        row.append(cell);
      }
      body.append(row);
    }
  } catch (error) {
    showError(`Latency metrics: ${describe(error)}`);
  }
}

function logEvent(message) {
  const shown = { ...message.payload };
  delete shown.audio_b64;
  const item = document.createElement("li");
  item.textContent = `${new Date().toLocaleTimeString("en-GB")} ${message.type} ${JSON.stringify(shown)}`;
  const list = $("events");
  list.prepend(item);
  while (list.children.length > MAX_EVENTS) list.lastElementChild.remove();
}

// Persona switch

async function onSwitch(event) {
  event.preventDefault();
  showError("");
  const body = {
    target_persona_id: $("persona-select").value,
    preserve_context: $("preserve-context").checked,
  };
  const transition = $("transition").value.trim();
  if (transition) body.transition_message = transition;
  $("switch").disabled = true;
  $("switch-result").textContent = "switching…";
  try {
    const result = await state.api.request("POST", devicePath(state.deviceId, "/persona/switch"), body);
    setPersona(result.new_persona_id);
    $("switch-result").textContent = `switched in ${result.switch_latency_ms} ms`;
  } catch (error) {
    $("switch-result").textContent = "";
    showError(`Persona switch failed: ${describe(error)}`);
  } finally {
    $("switch").disabled = false;
  }
}

// Wiring

for (const radio of document.querySelectorAll('input[name="kind"]')) radio.addEventListener("change", onKindChange);
$("sign-in-form").addEventListener("submit", onSignIn);
$("pick-device-form").addEventListener("submit", onPickDevice);
$("sign-out").addEventListener("click", signOut);
$("start").addEventListener("click", startCall);
$("stop").addEventListener("click", stopCall);
$("stop-reply").addEventListener("click", onStopReply);
$("text-form").addEventListener("submit", onSendText);
$("persona-form").addEventListener("submit", onSwitch);
$("refresh-metrics").addEventListener("click", refreshMetrics);
window.addEventListener("pagehide", stopCall);
onKindChange();
document.body.dataset.ready = "true";
