// pagestate web client: one WebSocket per tab, DOM updates by morphing.
// No framework, no build step; all escaping happens on the server.
(function () {
  "use strict";
  var STORE = "pagestate.session";
  var body = document.body;
  var main = document.getElementById("ps-main");
  var sidebar = document.getElementById("ps-sidebar");
  var socket = null;
  var delay = 250;
  var busy = false;

  function setStatus(status) {
    body.setAttribute("data-status", status);
  }

  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify(message));
    }
  }

  function morph(target, html) {
    Idiomorph.morph(target, html, {
      morphStyle: "innerHTML",
      ignoreActiveValue: true,
      callbacks: {
        // An expander's open/closed state belongs to the user.
        beforeAttributeUpdated: function (name, node) {
          return !(name === "open" && node.tagName === "DETAILS");
        },
        // What the user put in a form and has not submitted stays in its
        // box through reruns caused elsewhere (as in Streamlit).
        beforeNodeMorphed: function (node) {
          return !unsent(node);
        }
      }
    });
  }

  // A form's control whose value differs from the one the server drew.
  function unsent(node) {
    if (!node.classList || !node.classList.contains("ps-input")) return false;
    var widget = widgetOf(node);
    if (!widget || !widget.hasAttribute("data-form")) return false;
    if (node.type === "checkbox") return node.checked !== node.defaultChecked;
    if (node.tagName === "SELECT") {
      for (var i = 0; i < node.options.length; i++) {
        if (node.options[i].selected !== node.options[i].defaultSelected) return true;
      }
      return false;
    }
    return node.value !== node.defaultValue;
  }

  // Once submitted, a form's values are the server's: later drawings
  // apply to its controls again.
  function markSent(input) {
    if (input.type === "checkbox") {
      input.defaultChecked = input.checked;
    } else if (input.tagName === "SELECT") {
      for (var i = 0; i < input.options.length; i++) {
        input.options[i].defaultSelected = input.options[i].selected;
      }
    } else {
      input.defaultValue = input.value;
    }
  }

  function connect() {
    var url = new URL(body.getAttribute("data-ws"), location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    var id = sessionStorage.getItem(STORE);
    if (id) url.searchParams.set("session", id);
    socket = new WebSocket(url.href);
    socket.onmessage = function (event) {
      var message = JSON.parse(event.data);
      if (message.t === "hello") {
        sessionStorage.setItem(STORE, message.session);
        body.setAttribute("data-session", message.session);
        delay = 250;
      } else if (message.t === "frame") {
        // An area left out (null) is unchanged.
        if (message.main !== null) morph(main, message.main);
        if (message.sidebar !== null) morph(sidebar, message.sidebar);
        body.setAttribute("data-run", String(message.run));
        body.setAttribute("data-runs-completed", String(message.runs_completed));
        setStatus(message.status);
      } else if (message.t === "moved") {
        // Another page took this session (a duplicated tab shares the
        // stored id): this one starts a session of its own.
        sessionStorage.removeItem(STORE);
        delay = 0;
      } else if (message.t === "busy") {
        busy = true;
        main.innerHTML = message.html;
        sidebar.innerHTML = "";
        setStatus("busy");
      }
    };
    socket.onclose = function () {
      socket = null;
      if (busy) {
        busy = false;
        setTimeout(connect, 10000);
        return;
      }
      setStatus("disconnected");
      setTimeout(connect, delay);
      delay = Math.min(Math.max(delay * 2, 250), 5000);
    };
  }

  function widgetOf(node) {
    return node && node.closest ? node.closest("[data-widget-id]") : null;
  }

  // The value of a widget as the server expects it.
  function valueOf(widget) {
    var input = widget.querySelector(".ps-input");
    var kind = widget.getAttribute("data-testid");
    if (!input) return null;
    if (kind === "checkbox") return input.checked;
    if (kind === "number_input" || kind === "slider") {
      var n = Number(input.value);
      if (input.value === "" || !isFinite(n)) return null;
      return n;
    }
    if (kind === "selectbox") return Number(input.value);
    if (kind === "multiselect") {
      var chosen = [];
      for (var i = 0; i < input.options.length; i++) {
        if (input.options[i].selected) chosen.push(Number(input.options[i].value));
      }
      return chosen;
    }
    return input.value;
  }

  document.addEventListener("change", function (event) {
    var widget = widgetOf(event.target);
    if (!widget || widget.hasAttribute("data-form")) return;
    var value = valueOf(widget);
    if (value === null) return;
    var values = {};
    values[widget.getAttribute("data-widget-id")] = value;
    send({ t: "rerun", values: values, triggers: [] });
  });

  // A slider shows its value while it moves; it is sent on release.
  document.addEventListener("input", function (event) {
    var widget = widgetOf(event.target);
    if (widget && widget.getAttribute("data-testid") === "slider") {
      var output = widget.querySelector(".ps-slider-value");
      if (output) output.textContent = event.target.value;
    }
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button[data-action]") : null;
    var widget = widgetOf(button);
    if (!widget) return;
    var id = widget.getAttribute("data-widget-id");
    var values = {};
    var form = widget.getAttribute("data-form");
    if (button.getAttribute("data-action") === "submit" && form !== null) {
      var members = document.querySelectorAll("[data-widget-id][data-form]");
      for (var i = 0; i < members.length; i++) {
        var member = members[i];
        if (member.getAttribute("data-form") !== form || member === widget) continue;
        var kind = member.getAttribute("data-testid");
        if (kind === "button" || kind === "form_submit_button") continue;
        var value = valueOf(member);
        if (value !== null) values[member.getAttribute("data-widget-id")] = value;
        var input = member.querySelector(".ps-input");
        if (input) markSent(input);
      }
    }
    send({ t: "rerun", values: values, triggers: [id] });
  });

  // Enter in a one-line box sends its value (by leaving it); Ctrl+Enter
  // does the same in a text area. Inside a form it sends nothing: only the
  // submit button does.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Enter") return;
    var tag = event.target.tagName;
    if (!(tag === "INPUT" || (tag === "TEXTAREA" && (event.ctrlKey || event.metaKey)))) return;
    var widget = widgetOf(event.target);
    if (widget && !widget.hasAttribute("data-form")) event.target.blur();
  });

  connect();
})();
