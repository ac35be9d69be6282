/* Beacon chat panel (runs inside the widget iframe, on Beacon's origin).
 * Every piece of text from a document, an answer or a visitor is put in the page with textContent or
 * as DOM nodes built here: never innerHTML, so no markup or script in them can ever run. */
(function () {
  "use strict";

  var STRINGS = {
    en: { new: "New conversation", close: "Close chat", log: "Conversation", ask: "Your question",
      placeholder: "Ask a question…", send: "Send", sources: "Sources", page: "p.", helpful: "Helpful",
      unhelpful: "Not helpful", thinking: "Thinking", error: "Something went wrong. Please try again.",
      limited: "Too many messages; please wait {s} s.", you: "You", bot: "Assistant",
      retry: "Try again", tooLong: "Questions are limited to {n} characters.",
      interrupted: "The answer was cut off. Please try again.",
      unanswered: "Your last question got no answer.", timeout: "Beacon did not answer in time.",
      unavailable: "This chat is not available on this site right now.",
      offline: "Could not reach Beacon: check your connection.", which: ": answer {n}" },
    fr: { new: "Nouvelle conversation", close: "Fermer", log: "Conversation", ask: "Votre question",
      placeholder: "Posez une question…", send: "Envoyer", sources: "Sources", page: "p.", helpful: "Utile",
      unhelpful: "Pas utile", thinking: "Réflexion", error: "Une erreur s'est produite. Réessayez.",
      limited: "Trop de messages ; patientez {s} s.", you: "Vous", bot: "Assistant",
      retry: "Réessayer", tooLong: "Les questions sont limitées à {n} caractères.",
      interrupted: "La réponse a été interrompue. Réessayez.",
      unanswered: "Votre dernière question est restée sans réponse.", timeout: "Beacon n'a pas répondu à temps.",
      unavailable: "Ce chat n'est pas disponible sur ce site pour le moment.",
      offline: "Impossible de joindre Beacon : vérifiez votre connexion.", which: " : réponse {n}" },
    de: { new: "Neues Gespräch", close: "Schließen", log: "Gespräch", ask: "Ihre Frage",
      placeholder: "Stellen Sie eine Frage…", send: "Senden", sources: "Quellen", page: "S.", helpful: "Hilfreich",
      unhelpful: "Nicht hilfreich", thinking: "Denke nach", error: "Etwas ist schiefgelaufen. Bitte erneut versuchen.",
      limited: "Zu viele Nachrichten; bitte {s} s warten.", you: "Sie", bot: "Assistent",
      retry: "Erneut versuchen", tooLong: "Fragen sind auf {n} Zeichen begrenzt.",
      interrupted: "Die Antwort wurde unterbrochen. Bitte erneut versuchen.",
      unanswered: "Ihre letzte Frage blieb unbeantwortet.", timeout: "Beacon hat nicht rechtzeitig geantwortet.",
      unavailable: "Dieser Chat ist auf dieser Website derzeit nicht verfügbar.",
      offline: "Beacon ist nicht erreichbar: Prüfen Sie Ihre Verbindung.", which: ": Antwort {n}" },
    es: { new: "Nueva conversación", close: "Cerrar", log: "Conversación", ask: "Tu pregunta",
      placeholder: "Haz una pregunta…", send: "Enviar", sources: "Fuentes", page: "p.", helpful: "Útil",
      unhelpful: "No útil", thinking: "Pensando", error: "Algo salió mal. Inténtalo de nuevo.",
      limited: "Demasiados mensajes; espera {s} s.", you: "Tú", bot: "Asistente",
      retry: "Reintentar", tooLong: "Las preguntas tienen un máximo de {n} caracteres.",
      interrupted: "La respuesta se interrumpió. Inténtalo de nuevo.",
      unanswered: "Tu última pregunta no recibió respuesta.", timeout: "Beacon no respondió a tiempo.",
      unavailable: "Este chat no está disponible en este sitio en este momento.",
      offline: "No se pudo contactar con Beacon: comprueba tu conexión.", which: ": respuesta {n}" },
    nl: { new: "Nieuw gesprek", close: "Sluiten", log: "Gesprek", ask: "Je vraag",
      placeholder: "Stel een vraag…", send: "Verzenden", sources: "Bronnen", page: "p.", helpful: "Nuttig",
      unhelpful: "Niet nuttig", thinking: "Aan het denken", error: "Er ging iets mis. Probeer het opnieuw.",
      limited: "Te veel berichten; wacht {s} s.", you: "Jij", bot: "Assistent",
      retry: "Opnieuw proberen", tooLong: "Vragen zijn beperkt tot {n} tekens.",
      interrupted: "Het antwoord werd onderbroken. Probeer het opnieuw.",
      unanswered: "Je laatste vraag kreeg geen antwoord.", timeout: "Beacon antwoordde niet op tijd.",
      unavailable: "Deze chat is op deze site momenteel niet beschikbaar.",
      offline: "Kan Beacon niet bereiken: controleer je verbinding.", which: ": antwoord {n}" },
  };

  var body = document.body;
  var BOT = body.getAttribute("data-bot");
  var API = "/widget/" + BOT;
  var t = STRINGS[body.getAttribute("data-lang")] || STRINGS.en;
  var token = null;
  var conversationId = null;
  var visitor = null;
  var busy = false;
  // Calls waiting for a new visitor token (theirs expired): sent again on the next beacon:init, failed on
  // beacon:session-failed (the loader could not get one: the network, a rate limit, the site no longer allowed).
  var pendingRetries = [];
  // The visitor's conversation being restored (beacon:init). A question asked meanwhile waits for it, and a
  // restore that answers after the visitor started another conversation does not replace it: otherwise a fast
  // first question vanished from the panel when the restore's (empty) answer arrived after it.
  var loading = null;
  var started = 0; // conversations started in this frame (newConversation), for a restore to know it is stale
  // The last restore failed (network, server): a question then waits for a new one rather than starting a
  // conversation of its own, which would hide the visitor's earlier conversation for good.
  var restoreFailed = false;
  var restoreReason = ""; // what the visitor is told of it (a question that waited for it says the same)
  // How long a question waits for that restore (WIDGET_RESTORE_WAIT_SECONDS): one that never answers (a stalled
  // connection, a slow server) must not keep the visitor from asking.
  var restoreWait = parseInt(body.getAttribute("data-restore-wait"), 10);
  if (isNaN(restoreWait)) restoreWait = 8000;
  // How long a question under way waits for a sign of life from Beacon (WIDGET_ANSWER_IDLE_SECONDS): its new
  // conversation, its answer's first byte (an SSE comment, once the question is stored), each next part of the stream.
  // A server that hangs (or a connection that silently died) left the question "thinking" for ever with Send disabled.
  var answerIdle = parseInt(body.getAttribute("data-answer-idle"), 10);
  if (isNaN(answerIdle)) answerIdle = 150000;
  var pendingQuestion = null; // the question under way ({cancel}): "New conversation" gives it up
  var renewing = false; // a "New conversation" under way

  var log = document.getElementById("log");
  var form = document.getElementById("composer");
  var input = document.getElementById("question");
  var send = document.getElementById("send");
  var status = document.getElementById("status");
  var retryButton = document.getElementById("retry");
  var retryAction = null;
  var suggestions = document.getElementById("suggestions");

  // The bot's colour, with dark text on it when white would not read (a yellow or light blue brand colour): white's
  // contrast with it under 3:1, WCAG's minimum for large text and icons (relative luminance).
  function luminance(hex) {
    return [1, 3, 5].reduce(function (sum, at, i) {
      var c = parseInt(hex.slice(at, at + 2), 16) / 255;
      c = c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
      return sum + c * [0.2126, 0.7152, 0.0722][i];
    }, 0);
  }
  var DARK = "#111827";
  var color = body.getAttribute("data-color");
  if (/^#[0-9a-fA-F]{6}$/.test(color)) {
    var rootStyle = document.documentElement.style;
    rootStyle.setProperty("--accent", color);
    if (1.05 / (luminance(color) + 0.05) < 3) {
      rootStyle.setProperty("--on-accent", DARK);
      rootStyle.setProperty("--accent-ink", DARK);
    }
  }

  function translate(lang) {
    t = STRINGS[(lang || "en").split("-")[0].toLowerCase()] || STRINGS.en;
    document.documentElement.lang = lang || "en";
    Array.prototype.forEach.call(document.querySelectorAll("[data-i18n]"), function (el) {
      el.textContent = t[el.getAttribute("data-i18n")];
    });
    Array.prototype.forEach.call(document.querySelectorAll("[data-i18n-label]"), function (el) {
      el.setAttribute("aria-label", t[el.getAttribute("data-i18n-label")]);
      if (el.id === "new-conversation") el.textContent = t.new;
    });
    Array.prototype.forEach.call(document.querySelectorAll("[data-i18n-placeholder]"), function (el) {
      el.setAttribute("placeholder", t[el.getAttribute("data-i18n-placeholder")]);
    });
    Array.prototype.forEach.call(document.querySelectorAll(".message"), function (el) {
      el.setAttribute("data-speaker", (el.classList.contains("user") ? t.you : t.bot) + ": ");
    });
    numberAnswers();
  }
  translate(body.getAttribute("data-lang"));

  function toParent(message) {
    if (window.parent !== window) window.parent.postMessage(message, "*"); // carries no data, only signals
  }

  /* ------------------------------------------------------------------ safe markdown subset */

  var SAFE_URL = /^(https?:\/\/|mailto:)/i;
  // A link's address may hold balanced parentheses, one level deep (https://en.wikipedia.org/wiki/Mercury_(planet)):
  // they used to end the address there, linking to another page and leaving a stray ")" in the text.
  var INLINE = /(\*\*([^*]+)\*\*)|(\*([^*\s][^*]*)\*)|(`([^`]+)`)|(\[([^\]]+)\]\(((?:[^()\s]|\([^()\s]*\))+)\))|(\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\])|(https?:\/\/(?:[^\s<>()]|\([^\s<>()]*\))*(?:[^\s<>().,;:!?'"]|\([^\s<>()]*\)))/;

  function inline(parent, text) {
    while (text) {
      var m = INLINE.exec(text);
      if (!m) {
        parent.appendChild(document.createTextNode(text));
        return;
      }
      if (m.index) parent.appendChild(document.createTextNode(text.slice(0, m.index)));
      var node;
      if (m[1]) {
        node = document.createElement("strong");
        inline(node, m[2]);
      } else if (m[3]) {
        node = document.createElement("em");
        inline(node, m[4]);
      } else if (m[5]) {
        node = document.createElement("code");
        node.textContent = m[6];
      } else if (m[7]) {
        node = link(m[9], m[8]);
      } else if (m[10]) {
        node = document.createElement("span");
        node.className = "cite";
        node.textContent = "[" + m[11] + "]";
      } else {
        node = link(m[12], m[12]);
      }
      parent.appendChild(node);
      text = text.slice(m.index + m[0].length);
    }
  }

  function link(href, label) {
    if (!SAFE_URL.test(href)) return document.createTextNode(label);
    var a = document.createElement("a");
    a.href = href;
    a.target = "_blank";
    a.rel = "noopener noreferrer nofollow";
    a.textContent = label;
    return a;
  }

  function markdown(text) {
    var fragment = document.createDocumentFragment();
    var list = null;
    var paragraph = null;
    var code = null; /* the <code> of an open ``` block: its lines go in verbatim, indentation kept */
    var codeLines = 0;
    text.split("\n").forEach(function (line) {
      if (/^\s*(```|~~~)/.test(line)) {
        if (code) {
          code = null;
        } else {
          var pre = document.createElement("pre");
          code = document.createElement("code");
          codeLines = 0;
          pre.appendChild(code);
          fragment.appendChild(pre);
          list = null;
          paragraph = null;
        }
        return;
      }
      if (code) {
        code.textContent += (codeLines++ ? "\n" : "") + line;
        return;
      }
      var bullet = /^\s*[-*•]\s+(.*)$/.exec(line);
      var numbered = /^\s*\d{1,3}[.)]\s+(.*)$/.exec(line);
      if (bullet || numbered) {
        var kind = bullet ? "UL" : "OL";
        if (!list || list.tagName !== kind) {
          list = document.createElement(kind.toLowerCase());
          fragment.appendChild(list);
        }
        var item = document.createElement("li");
        inline(item, (bullet || numbered)[1]);
        list.appendChild(item);
        paragraph = null;
      } else if (!line.trim()) {
        list = null;
        paragraph = null;
      } else {
        list = null;
        var heading = /^#{1,6}\s+(.*)$/.exec(line);
        if (heading) {
          var strong = document.createElement("p");
          var b = document.createElement("strong");
          inline(b, heading[1]);
          strong.appendChild(b);
          fragment.appendChild(strong);
          paragraph = null;
          return;
        }
        if (!paragraph) {
          paragraph = document.createElement("p");
          fragment.appendChild(paragraph);
        } else {
          paragraph.appendChild(document.createElement("br"));
        }
        inline(paragraph, line);
      }
    });
    return fragment;
  }

  /* ------------------------------------------------------------------ messages */

  function hideIntro(hidden) {
    suggestions.hidden = hidden;
  }

  function addUser(content) {
    var el = document.createElement("div");
    el.className = "message user";
    el.dir = "auto"; // a right-to-left question reads right to left
    // Who said it, for screen readers (the stylesheet writes it, visually hidden, before the text): an aria-label on
    // a plain div is not allowed (ARIA 1.2) and, where honoured, replaced the question by "You".
    el.setAttribute("data-speaker", t.you + ": ");
    el.textContent = content;
    log.appendChild(el);
    scroll();
    return el;
  }

  function addAssistant() {
    var el = document.createElement("div");
    el.className = "message assistant streaming";
    el.setAttribute("aria-busy", "true");
    el.setAttribute("data-speaker", t.bot + ": ");
    var text = document.createElement("div");
    text.className = "text typing";
    text.dir = "auto";
    var thinking = document.createElement("span");
    thinking.className = "visually-hidden";
    thinking.textContent = t.thinking; // replaced by the answer's first words
    text.appendChild(thinking);
    el.appendChild(text);
    log.appendChild(el);
    scroll();
    return el;
  }

  function finishAssistant(el, message) {
    el.classList.remove("streaming");
    el.removeAttribute("aria-busy");
    el.textContent = "";
    var text = document.createElement("div");
    text.className = "text";
    text.dir = "auto";
    text.appendChild(markdown(message.content || ""));
    el.appendChild(text);
    var citations = message.citations || [];
    if (citations.length) {
      var heading = document.createElement("p");
      heading.className = "visually-hidden";
      heading.textContent = t.sources;
      el.appendChild(heading);
      var list = document.createElement("ul");
      list.className = "sources";
      list.setAttribute("aria-label", t.sources);
      citations.forEach(function (c) {
        var item = document.createElement("li");
        var label = "[" + c.ref + "] " + (c.title || "") + (c.page ? ", " + t.page + " " + c.page : "");
        var path = (c.heading_path || []).filter(function (h, i) {
          return !(i === 0 && h === c.title); // a document's first heading is often its title: not twice
        });
        if (path.length) label += " — " + path.join(" › ");
        if (c.url && SAFE_URL.test(c.url)) item.appendChild(link(c.url, label));
        else item.textContent = label;
        list.appendChild(item);
      });
      el.appendChild(list);
    }
    if (message.id || message.message_id) el.appendChild(feedback(message.id || message.message_id, message.feedback));
    numberAnswers();
    scroll();
  }

  // Every answer's thumbs say which answer they rate ("Helpful: answer 3"): a screen reader's list of buttons had
  // "Helpful", "Not helpful", "Helpful"... with nothing to tell them apart. Numbered in the order of the log.
  function numberAnswers() {
    var answers = log.querySelectorAll(".message.assistant:not(.greeting) .feedback");
    Array.prototype.forEach.call(answers, function (box, i) {
      Array.prototype.forEach.call(box.querySelectorAll("button"), function (button) {
        var word = button.getAttribute("data-value") === "1" ? t.helpful : t.unhelpful;
        button.setAttribute("aria-label", word + t.which.replace("{n}", i + 1));
      });
    });
  }

  var THUMB = "M2 21h4V9H2v12zm20-11a2 2 0 00-2-2h-6.3l1-4.6v-.3c0-.4-.2-.8-.4-1.1L13.2 1 6.6 7.6c-.4.4-.6.9-.6 1.4v10a2 2 0 002 2h9c.8 0 1.5-.5 1.8-1.2l3-7.1.2-.7v-2z";

  function icon(d, className) {
    var svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    if (className) svg.setAttribute("class", className);
    var path = document.createElementNS("http://www.w3.org/2000/svg", "path");
    path.setAttribute("d", d);
    svg.appendChild(path);
    return svg;
  }

  function feedback(messageId, current) {
    var box = document.createElement("div");
    box.className = "feedback";
    [
      [1, THUMB, t.helpful, ""],
      [-1, THUMB, t.unhelpful, "down"],
    ].forEach(function (spec) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "target";
      button.appendChild(icon(spec[1], spec[3]));
      button.setAttribute("aria-label", spec[2]); // and which answer: numberAnswers()
      button.setAttribute("aria-pressed", current === spec[0] ? "true" : "false");
      button.setAttribute("data-value", String(spec[0]));
      button.addEventListener("click", function () {
        call("POST", API + "/messages/" + messageId + "/feedback/", { value: spec[0] })
          .then(function (r) {
            if (!r.ok) return failed(r);
            Array.prototype.forEach.call(box.querySelectorAll("button"), function (b) {
              b.setAttribute("aria-pressed", b === button ? "true" : "false");
            });
          })
          ["catch"](function (error) {
            showError(unanswered(error)); // the network: the thumb stays as it was, and the visitor can click again
          });
      });
      box.appendChild(button);
    });
    return box;
  }

  function scroll() {
    log.scrollTop = log.scrollHeight;
  }

  // (A question under way, `.pending`, is not the conversation's yet: it stays, after the conversation.)
  function clearConversation() {
    Array.prototype.forEach.call(log.querySelectorAll(".message:not(.greeting):not(.pending)"), function (el) {
      el.remove();
    });
    hideIntro(!!log.querySelector(".message.pending"));
  }

  function render(conversation) {
    clearConversation();
    conversationId = conversation ? conversation.id : null;
    if (conversation) {
      if (conversation.messages.length) hideIntro(true);
      conversation.messages.forEach(function (message) {
        if (message.role === "user") addUser(message.content);
        else finishAssistant(addAssistant(), message);
      });
    }
    Array.prototype.forEach.call(log.querySelectorAll(".message.pending"), function (el) {
      log.appendChild(el);
    });
    numberAnswers();
    scroll();
  }

  /* ------------------------------------------------------------------ API */

  // `signal` (an AbortController's) gives the call up: its request, its body, or its wait for a new token.
  function call(method, url, payload, accept, signal) {
    var headers = { Authorization: "Visitor " + token, Accept: accept || "application/json" };
    if (payload !== undefined) headers["Content-Type"] = "application/json";
    return fetch(url, {
      method: method,
      headers: headers,
      credentials: "omit",
      body: payload === undefined ? undefined : JSON.stringify(payload),
      signal: signal,
    }).then(function (response) {
      if (response.status === 401) {
        return errorOf(response.clone()).then(function (error) {
          if (error.code === "visitor_token_expired") {
            return until(new Promise(function (resolve, reject) {
              var pending = {
                retry: function () {
                  resolve(call(method, url, payload, accept, signal));
                },
                fail: reject,
              };
              pendingRetries.push(pending);
              if (signal) {
                signal.addEventListener("abort", function () {
                  var at = pendingRetries.indexOf(pending); // given up: the next token must not send it again
                  if (at !== -1) pendingRetries.splice(at, 1);
                });
              }
              toParent({ type: "beacon:token-expired" });
            }), signal);
          }
          return response;
        });
      }
      return response;
    }, function (error) {
      // fetch rejects only when no answer came at all: the network (or a request given up, AbortError).
      if (error && error.name !== "AbortError") error.network = true;
      throw error;
    });
  }

  // What to tell the visitor about a request that failed without an answer.
  function unanswered(error) {
    return error && error.network ? t.offline : t.error;
  }

  // The `error` of a refused request: a JSON body, or one `event: error` when the request asked for a stream (a
  // question is sent with Accept: text/event-stream, so its 401, 404 and 429 arrive as a server-sent event).
  function errorOf(response) {
    return response.text().then(
      function (text) {
        var event = /^event: error\r?\ndata: (.*)$/m.exec(text);
        try {
          return (JSON.parse(event ? event[1] : text) || {}).error || {};
        } catch (e) {
          return {};
        }
      },
      function () {
        return {};
      }
    );
  }

  // What to tell the visitor about a refused request.
  function problem(response) {
    return errorOf(response).then(function (error) {
      var retry = error.details && error.details.retry_after;
      // The plan's monthly limit also says 429 with a Retry-After, but days away: its own sentence says when.
      if (response.status === 429 && retry && error.code !== "message_limit_exceeded") {
        return t.limited.replace("{s}", retry);
      }
      return said(error);
    });
  }

  // What the visitor reads of an `error`. A site taken off the bot's allowed origins while the chat is open: the
  // server's sentence is for the site's owner ("add the site to the bot's allowed origins"), so it goes to the
  // browser's console and the visitor reads a neutral one.
  function said(error) {
    if (error.code === "origin_not_allowed") {
      if (window.console) window.console.warn("Beacon widget: " + error.message);
      return t.unavailable;
    }
    return error.message || t.error;
  }

  function aborted() {
    var error = new Error("given up");
    error.name = "AbortError";
    return error;
  }

  // `promise`, or an AbortError as soon as `signal` aborts (a wait of a question that was given up ends at once).
  function until(promise, signal) {
    if (!signal) return promise;
    return new Promise(function (resolve, reject) {
      if (signal.aborted) return reject(aborted());
      signal.addEventListener("abort", function () {
        reject(aborted());
      });
      promise.then(resolve, reject);
    });
  }

  // Aborts `controller` when `answerIdle` passes without touch(): every sign of life from Beacon touches it.
  function watchdog(controller) {
    var timer = null;
    var dog = {
      fired: false,
      touch: function () {
        clearTimeout(timer);
        timer = setTimeout(function () {
          dog.fired = true;
          controller.abort();
        }, answerIdle);
      },
      stop: function () {
        clearTimeout(timer);
      },
    };
    return dog;
  }

  function showError(message, retry) {
    // The same sentence is not written again: a live region re-announces it (on every key, for the length note).
    if (status.textContent !== message) status.textContent = message;
    retryAction = retry || null;
    retryButton.hidden = !retry;
  }

  function clearError() {
    showError("", null);
  }

  function failed(response) {
    return problem(response).then(function (message) {
      showError(message);
    });
  }

  function loadConversation() {
    var startedBefore = started;
    return call("GET", API + "/conversation/").then(function (response) {
      if (!response.ok) {
        return problem(response).then(function (message) {
          var error = new Error(message);
          error.refused = true; // the server's own sentence (a network error's message is the browser's)
          throw error;
        });
      }
      // The conversation (null: none yet), or undefined when a newer one was started meanwhile (not shown).
      return response.json().then(function (data) {
        if (started !== startedBefore) return undefined;
        render(data.conversation);
        var messages = data.conversation ? data.conversation.messages : [];
        var last = messages[messages.length - 1];
        if (last && last.role === "user" && !busy) {
          // The visitor left or reloaded the page while the answer was being written, and it was never stored: say
          // so, with a retry, rather than show the question as if it had been answered.
          showError(t.unanswered, function () {
            ask(last.content);
          });
        }
        return data.conversation;
      });
    });
  }

  // Restores the visitor's conversation (on beacon:init, and again after a failed one). A failure says so, with a
  // retry: the panel must not pass an empty log off as the visitor's conversation.
  function restore() {
    restoreFailed = false;
    log.setAttribute("aria-busy", "true"); // the log is busy while the visitor's conversation is restored
    var pending = (loading = loadConversation());
    pending.then(
      function () {
        if (retryAction === restore) clearError();
        restoreEnded(pending);
      },
      function (error) {
        if (loading === pending) {
          restoreFailed = true;
          // A question waiting for this restore says so itself (its own retry asks again).
          restoreReason = error && error.refused ? error.message : unanswered(error);
          if (!busy) showError(restoreReason, restore);
        }
        restoreEnded(pending);
      }
    );
    return pending;
  }

  // The restore `restore` is over (answered, failed or given up): the log is no longer busy, unless a later
  // restore is under way.
  function restoreEnded(restore) {
    if (loading !== restore) return;
    loading = null;
    log.removeAttribute("aria-busy");
  }

  // Settles when the restore under way has (or when there is none), or after restoreWait: the restore is then
  // given up and its late answer ignored, as the question starts a conversation.
  function restored() {
    var pending = loading;
    if (!pending) return Promise.resolve();
    return new Promise(function (resolve) {
      var timer = setTimeout(function () {
        restoreEnded(pending);
        resolve();
      }, restoreWait);
      pending["catch"](function () {}).then(function () {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  function newConversation(signal) {
    started += 1;
    return call("POST", API + "/conversations/", {}, undefined, signal).then(function (response) {
      if (!response.ok) {
        return failed(response).then(function () {
          return null;
        });
      }
      return response.json().then(function (conversation) {
        restoreFailed = false; // the visitor chose a new conversation: the earlier one is no longer awaited
        render(conversation);
        return conversation.id;
      });
    });
  }

  function readEvents(response, onEvent, onChunk) {
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    function pump() {
      return reader.read().then(function (chunk) {
        if (chunk.done) return;
        onChunk();
        buffer += decoder.decode(chunk.value, { stream: true });
        var parts = buffer.split("\n\n");
        buffer = parts.pop();
        parts.forEach(function (part) {
          var event = "message";
          var data = "";
          part.split("\n").forEach(function (line) {
            if (line.indexOf("event: ") === 0) event = line.slice(7);
            else if (line.indexOf("data: ") === 0) data += line.slice(6);
          });
          if (data) onEvent(event, JSON.parse(data));
        });
        return pump();
      });
    }
    return pump();
  }

  function ask(question) {
    question = question.trim();
    if (!question || busy || renewing || !token) return;
    busy = true;
    clearError();
    send.disabled = true;
    if (restoreFailed && !loading) restore(); // the earlier conversation first: it may be there by now
    var user = null;
    var bubble = null;
    var sent = false; // the question's request left (Beacon may have stored it, whatever came back)
    var stored = false; // the server has the question (its answer started to stream)
    var ended = false; // the answer's `done` (or `error`) event arrived
    var cancelled = false; // given up by "New conversation"
    var recovery = null; // what to say if the question turns out not to be Beacon's: recover()
    var controller = new AbortController();
    var signal = controller.signal;
    var idle = watchdog(controller);
    var current = (pendingQuestion = {
      cancel: function () {
        cancelled = true;
        controller.abort();
      },
    });
    // The question goes back in the box and Retry (or Enter) sends it again; nothing the visitor wrote is lost.
    function offerRetry(message) {
      if (bubble) bubble.remove();
      if (!stored && user) user.remove(); // never reached the conversation: not shown as if it had
      if (!log.querySelector(".message:not(.greeting)")) hideIntro(false); // still nothing asked: the suggestions
      giveBack(question, message);
    }
    // The question is shown at once, waiting (a restore can take seconds: the panel showed nothing meanwhile).
    hideIntro(true);
    user = addUser(question);
    input.value = "";
    fit();
    bubble = addAssistant();
    user.classList.add("pending");
    bubble.classList.add("pending");
    until(restored(), signal)
      .then(function () {
        if (restoreFailed && !conversationId) {
          var failure = new Error(restoreReason);
          failure.restore = true;
          throw failure;
        }
        idle.touch();
        return conversationId || newConversation(signal);
      })
      .then(function (id) {
        if (!id) return offerRetry(status.textContent || t.error);
        var text = bubble.querySelector(".text");
        var streamed = "";
        idle.touch();
        sent = true;
        return call("POST", API + "/conversations/" + id + "/messages/", { content: question, stream: true },
          "text/event-stream", signal).then(function (response) {
          idle.touch();
          if (!response.ok) {
            // Refused before the question was stored (a rate or plan limit, a conversation deleted meanwhile).
            if (response.status === 404) conversationId = null; // the retry starts a new conversation
            return problem(response).then(offerRetry);
          }
          stored = true;
          return readEvents(response, function (event, data) {
            if (event === "token") {
              if (!streamed) text.classList.remove("typing");
              streamed += data.text;
              text.textContent = streamed;
              scroll();
            } else if (event === "done") {
              ended = true;
              finishAssistant(bubble, data);
              bubble = null;
            } else if (event === "error") {
              ended = true;
              offerRetry(said(data.error || {}));
            }
          }, idle.touch).then(function () {
            if (!ended) throw new Error("the stream ended before its answer");
          });
        });
      })
      ["catch"](function (error) {
        if (cancelled) {
          // The visitor started a new conversation meanwhile: a question that was never sent goes back in the box
          // for it. One that was sent is not (Beacon may have it, in the earlier conversation, where it stores its
          // answer): putting it back told the visitor it had never reached Beacon, and asking it again stored it twice.
          if (bubble) bubble.remove();
          if (!stored && user) user.remove();
          if (!sent && !input.value.trim()) {
            input.value = question;
            fit();
          }
          return;
        }
        // No answer: Beacon silent for too long, the network, a restore that failed, or a stream cut off (the
        // question stored, the answer not).
        var reason = stored ? t.interrupted : error && error.restore ? error.message : unanswered(error);
        if (idle.fired) reason = t.timeout;
        if (sent && (idle.fired || stored || (error && error.network))) {
          // Beacon may hold the question (and writes and stores an answer whose reader left): its conversation is
          // restored below rather than the question offered again, which stored it twice and spent a message.
          if (bubble) bubble.remove();
          user.remove();
          bubble = null;
          recovery = reason;
          return;
        }
        offerRetry(reason);
      })
      .then(function () {
        idle.stop();
        user.classList.remove("pending");
        if (bubble) bubble.classList.remove("pending");
        if (pendingQuestion === current) pendingQuestion = null;
        busy = false;
        send.disabled = renewing;
        if (!cancelled) input.focus();
        if (recovery !== null) recover(question, recovery, false);
      });
  }

  // The question goes back in the box (unless the visitor has written there since) with `message` and Try again,
  // which sends the box as the visitor left it, or this question.
  function giveBack(question, message) {
    if (!input.value.trim()) {
      input.value = question;
      fit();
    }
    showError(message, function () {
      ask(input.value.trim() ? input.value : question);
    });
  }

  // A question Beacon may hold: its request left and no answer came (Beacon silent past answerIdle, the connection
  // dropped, the stream cut off). The conversation is restored from Beacon: its answer, when Beacon has written it by
  // now; the question without an answer, `reason` and Try again, which looks once more and asks again only if there is
  // still no answer (`resend`); a question Beacon never got comes back in the box with `reason`. (The question used to
  // come back in the box whatever happened, and "Try again" stored it a second time, its first answer on the way.)
  function recover(question, reason, resend) {
    restore().then(
      function (conversation) {
        if (conversation === undefined) return; // another conversation was started meanwhile
        var messages = conversation ? conversation.messages : [];
        var last = messages[messages.length - 1];
        var asked = messages.filter(function (message) {
          return message.role === "user";
        });
        asked = asked[asked.length - 1];
        if (last && last.role === "user" && last.content === question) {
          if (resend) return ask(question); // still no answer: now it is asked again
          if (!busy) {
            showError(reason, function () {
              recover(question, reason, true);
            });
          }
        } else if (!asked || asked.content !== question) {
          // Beacon never got it: back in the box (with the reason, unless another question is under way by now).
          if (busy && !input.value.trim()) input.value = question;
          else if (!busy) giveBack(question, reason);
        }
      },
      function () {
        // Not known whether Beacon has it: the restore's reason, and Try again looks again.
        if (!busy) {
          showError(restoreReason, function () {
            recover(question, reason, resend);
          });
        }
      }
    );
  }

  // "New conversation". The panel's button gives a question under way up (it used to do nothing, silently, for as long
  // as the question waited); Beacon("new-conversation") from the page (`fromPage`) is ignored while a question is under
  // way, as it always was: a page's script must not throw away an answer the visitor is reading or waiting for.
  // Bounded like a question.
  function startOver(fromPage) {
    if (!token || renewing || (fromPage === true && busy)) return;
    if (pendingQuestion) pendingQuestion.cancel();
    clearError();
    renewing = true;
    send.disabled = true;
    var controller = new AbortController();
    var idle = watchdog(controller);
    idle.touch();
    newConversation(controller.signal)
      ["catch"](function (error) {
        showError(idle.fired ? t.timeout : unanswered(error), function () {
          startOver();
        });
      })
      .then(function () {
        idle.stop();
        renewing = false;
        send.disabled = busy;
      });
  }

  /* ------------------------------------------------------------------ wiring */

  // The question box grows with its lines (up to the stylesheet's max-height), and says so when a question reaches
  // its maxlength: the browser cuts a longer paste off without a word.
  function fit() {
    input.style.height = "";
    if (!input.value) return;
    input.style.height = "auto";
    input.style.height = input.scrollHeight + input.offsetHeight - input.clientHeight + "px";
  }
  var full = false;
  input.addEventListener("input", function () {
    fit();
    var wasFull = full;
    full = input.value.length >= input.maxLength;
    if (full) showError(t.tooLong.replace("{n}", input.maxLength));
    else if (wasFull && !retryAction) clearError();
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    ask(input.value);
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      ask(input.value);
    }
  });
  Array.prototype.forEach.call(document.querySelectorAll(".suggestion"), function (button) {
    button.addEventListener("click", function () {
      ask(button.textContent);
    });
  });
  document.getElementById("new-conversation").addEventListener("click", function () {
    startOver(false);
  });
  retryButton.addEventListener("click", function () {
    var action = retryAction;
    clearError();
    if (action) action();
  });
  document.getElementById("close").addEventListener("click", function () {
    toParent({ type: "beacon:close" });
  });
  document.addEventListener("keydown", function (event) {
    // (Not while an input method is composing: there Escape cancels the composition, not the chat.)
    if (event.key === "Escape" && !event.isComposing) toParent({ type: "beacon:close" });
  });

  window.addEventListener("message", function (event) {
    if (event.source !== window.parent) return;
    var message = event.data || {};
    if (message.type === "beacon:init" && typeof message.token === "string") {
      var changed = message.visitor !== visitor;
      visitor = message.visitor;
      token = message.token;
      if (message.lang) translate(message.lang);
      input.disabled = false;
      send.disabled = busy || renewing;
      if (pendingRetries.length) {
        pendingRetries.splice(0).forEach(function (pending) {
          pending.retry();
        });
      } else if (changed) {
        restore();
      }
    } else if (message.type === "beacon:session-failed") {
      pendingRetries.splice(0).forEach(function (pending) {
        pending.fail(new Error("no new visitor token"));
      });
    } else if (message.type === "beacon:focus") {
      input.focus();
    } else if (message.type === "beacon:language") {
      translate(message.lang);
    } else if (message.type === "beacon:new-conversation") {
      startOver(true);
    }
  });

  toParent({ type: "beacon:ready" });
})();
