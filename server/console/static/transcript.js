// The live transcript: the user's turns as the server heard them, the persona's replies as they are
// spoken (clause by clause, then the whole text), one list item each, in an aria-live list.

export class Transcript {
  #list;
  #personaName;
  #userByTurn = new Map();
  #replyByTurn = new Map();
  #lastReply = null;

  constructor(list, personaName) {
    this.#list = list;
    this.#personaName = personaName;
  }

  clear() {
    this.#list.replaceChildren();
    this.#userByTurn.clear();
    this.#replyByTurn.clear();
    this.#lastReply = null;
  }

  // A `transcript` message: what the user said in one turn.
  heard(payload) {
    if (!payload.final) return;
    // The user went on talking: the earlier turn and its reply are replaced by this whole utterance.
    const continued = payload.continues_turn_id;
    if (continued) {
      this.#userByTurn.get(continued)?.remove();
      this.#replyByTurn.get(continued)?.remove();
    }
    this.#userByTurn.set(payload.turn_id, this.#add("user", "You", payload.text));
  }

  typed(text) {
    this.#add("user", "You (typed)", text);
  }

  // An `audio_response`: a clause (`final: false`) or the whole reply (`final: true`).
  reply(payload) {
    const key = payload.turn_id || `reply-${this.#list.children.length}`;
    let item = this.#replyByTurn.get(key);
    if (!item) {
      item = this.#add("assistant", this.#personaName(payload.persona_id), "");
      this.#replyByTurn.set(key, item);
    }
    const text = item.querySelector(".text");
    if (payload.final) {
      text.textContent = payload.text;
      item.classList.remove("pending");
    } else {
      text.textContent = text.textContent ? `${text.textContent} ${payload.text}` : payload.text;
      item.classList.add("pending");
    }
    if (payload.persona_id) item.querySelector(".speaker").textContent = `${this.#personaName(payload.persona_id)}:`;
    this.#lastReply = item;
  }

  // `stop_playback`: the reply being spoken was cut.
  cut() {
    if (this.#lastReply && !this.#lastReply.querySelector(".cut")) {
      const mark = document.createElement("span");
      mark.className = "cut hint";
      mark.textContent = " (cut)";
      this.#lastReply.append(mark);
    }
  }

  note(text) {
    this.#add("note", "", text);
  }

  #add(kind, speaker, text) {
    const item = document.createElement("li");
    item.className = kind;
    if (speaker) {
      const who = document.createElement("span");
      who.className = "speaker";
      who.textContent = `${speaker}:`;
      item.append(who, document.createTextNode(" "));
    }
    const body = document.createElement("span");
    body.className = "text";
    body.textContent = text;
    item.append(body);
    this.#list.append(item);
    item.scrollIntoView({ block: "nearest" });
    return item;
  }
}
