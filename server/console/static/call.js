// A peer connection to one device's voice loop: the microphone out, the persona's voice in, and the
// `events` data channel carrying the WebSocket protocol's JSON messages both ways.
//
// Complete ICE, no trickle: the offer is posted once gathering is over, with every candidate in it.

import { devicePath } from "./api.js";

const GATHER_TIMEOUT_MS = 10000;
const DEFAULT_HEARTBEAT_S = 15;

export class Call {
  #api;
  #deviceId;
  #audio;
  #onMessage;
  #onState;
  #pc = null;
  #channel = null;
  #media = null;
  #heartbeat = null;

  constructor({ api, deviceId, audio, onMessage, onState }) {
    this.#api = api;
    this.#deviceId = deviceId;
    this.#audio = audio;
    this.#onMessage = onMessage;
    this.#onState = onState;
  }

  get open() {
    return this.#channel !== null && this.#channel.readyState === "open";
  }

  async start() {
    if (!window.isSecureContext || !navigator.mediaDevices) {
      throw new Error(
        "The microphone needs a secure page: open the console over HTTPS, or at http://localhost on the server",
      );
    }
    this.#onState("asking for the microphone");
    this.#media = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
    });
    // The STUN/TURN servers the server itself uses (COMPANION_WEBRTC_ICE_SERVERS): a browser behind
    // NAT needs them before it gathers the candidates its offer carries (complete ICE, no trickle).
    const ice = await this.#api.request("GET", devicePath(this.#deviceId, "/webrtc/ice-servers"));
    const pc = new RTCPeerConnection({ iceServers: ice.ice_servers });
    this.#pc = pc;
    for (const track of this.#media.getAudioTracks()) pc.addTrack(track, this.#media);
    this.#channel = pc.createDataChannel("events");
    this.#channel.onopen = () => {
      this.#onState("connected");
      this.#startHeartbeat(DEFAULT_HEARTBEAT_S);
    };
    this.#channel.onclose = () => this.#onState("data channel closed");
    this.#channel.onmessage = (event) => this.#receive(event.data);
    pc.ontrack = (event) => {
      this.#audio.srcObject = event.streams[0] || new MediaStream([event.track]);
      this.#audio.play().catch(() => {});
    };
    pc.onconnectionstatechange = () => {
      if (pc.connectionState !== "connected") this.#onState(pc.connectionState);
    };
    this.#onState("gathering network candidates");
    await pc.setLocalDescription(await pc.createOffer());
    await gatheringComplete(pc);
    this.#onState("negotiating");
    const answer = await this.#api.request("POST", devicePath(this.#deviceId, "/webrtc/offer"), {
      sdp: pc.localDescription.sdp,
      type: "offer",
    });
    await pc.setRemoteDescription({ type: answer.type, sdp: answer.sdp });
    this.#onState("connecting");
  }

  send(type, payload = {}) {
    if (!this.open) return false;
    this.#channel.send(JSON.stringify({ type, payload, timestamp: new Date().toISOString() }));
    return true;
  }

  // What arrived on the persona's track so far, from the browser's own receiver statistics.
  async stats() {
    const result = { bytes: 0, energy: 0, level: 0 };
    if (!this.#pc) return result;
    const report = await this.#pc.getStats();
    report.forEach((entry) => {
      if (entry.type === "inbound-rtp" && entry.kind === "audio") {
        result.bytes += entry.bytesReceived || 0;
        result.energy += entry.totalAudioEnergy || 0;
        result.level = Math.max(result.level, entry.audioLevel || 0);
      }
    });
    return result;
  }

  stop() {
    clearInterval(this.#heartbeat);
    this.#heartbeat = null;
    if (this.#channel) {
      this.#channel.onclose = null;
      this.#channel.onmessage = null;
      this.#channel.close();
    }
    if (this.#pc) {
      this.#pc.onconnectionstatechange = null;
      this.#pc.close();
    }
    if (this.#media) for (const track of this.#media.getTracks()) track.stop();
    this.#audio.srcObject = null;
    this.#channel = null;
    this.#pc = null;
    this.#media = null;
    this.#onState("not connected");
  }

  #receive(data) {
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      return;
    }
    if (!message || typeof message.type !== "string") return;
    const payload = message.payload && typeof message.payload === "object" ? message.payload : {};
    if (message.type === "connected" && payload.heartbeat_interval_s > 0) {
      this.#startHeartbeat(payload.heartbeat_interval_s);
    }
    // This page is the device: it acknowledges every command it is sent.
    if (typeof payload.command_id === "string") this.send("ack", { command_id: payload.command_id });
    this.#onMessage({ type: message.type, payload, priority: message.priority });
  }

  #startHeartbeat(intervalS) {
    clearInterval(this.#heartbeat);
    this.#heartbeat = setInterval(() => this.send("heartbeat", {}), intervalS * 1000);
  }
}

function gatheringComplete(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState !== "complete") return;
      pc.removeEventListener("icegatheringstatechange", done);
      clearTimeout(timer);
      resolve();
    };
    // Candidates gathered by then are sent: a host candidate is enough on a local network.
    const timer = setTimeout(() => {
      pc.removeEventListener("icegatheringstatechange", done);
      resolve();
    }, GATHER_TIMEOUT_MS);
    pc.addEventListener("icegatheringstatechange", done);
  });
}
