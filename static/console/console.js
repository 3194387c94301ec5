/* Console behaviour that used to be inline handlers (forbidden by the Content-Security-Policy):
   - [data-confirm="text"]: a click asks for confirmation first; declining cancels the click (no form submit).
     Templates render such buttons as type="button" and this script submits their form once confirmed, so a page
     whose script failed to load cannot submit them at all (fail closed, never an unconfirmed delete).
   - [data-model-action="name"]: Flask-Admin's "With selected" actions (modelActions.execute).
   - Safety net for Flask-Admin markup this project did not override: an element whose onclick attribute asks for a
     confirmation gets the same confirmation from here (a blocked inline handler must never turn into an
     unconfirmed delete); the inline attributes are removed so the browser never tries (and reports) them, and
     clicks on javascript: links are cancelled (they did nothing but would be reported as violations). */
(function () {
  'use strict';

  var CONFIRM_IN_HANDLER = /confirm\s*\(\s*(['"])((?:\\.|(?!\1).)*)\1/i;
  var MODEL_ACTION_IN_HANDLER = /modelActions\.execute\(\s*(['"])([^'"]+)\1/;
  var DEFAULT_QUESTION = 'Are you sure?';

  function ask(message) {
    try {
      return window.confirm(message);
    } catch (e) {
      return false;
    }
  }

  /* Submit `form` as if `button` had been a submit button (its name/value included). */
  function submit(form, button) {
    if (button.name) {
      var field = document.createElement('input');
      field.type = 'hidden';
      field.name = button.name;
      field.value = button.value;
      form.appendChild(field);
    }
    if (form.requestSubmit) {
      form.requestSubmit();
    } else {
      form.submit();
    }
  }

  function unquote(text) {
    return text.replace(/\\(.)/g, '$1');
  }

  /* Turn one inline onclick attribute into data attributes this script understands, then drop it. */
  function adopt(el) {
    var code = el.getAttribute('onclick') || '';
    var action = MODEL_ACTION_IN_HANDLER.exec(code);
    if (action) {
      el.setAttribute('data-model-action', action[2]);
    } else if (/confirm\s*\(/i.test(code)) {
      var match = CONFIRM_IN_HANDLER.exec(code);
      el.setAttribute('data-confirm', match ? unquote(match[2]) : DEFAULT_QUESTION);
    } else if (/^\s*return\s+false;?\s*$/.test(code)) {
      el.setAttribute('data-prevent-default', '1');
    }
    el.removeAttribute('onclick');
  }

  function adoptAll() {
    Array.prototype.forEach.call(document.querySelectorAll('[onclick]'), adopt);
  }

  // Capture phase: runs before Bootstrap/Flask-Admin handlers and before the button's default action (submit).
  document.addEventListener('click', function (event) {
    var target = event.target;
    if (!target || !target.closest) { return; }
    var inline = target.closest('[onclick]');
    if (inline) { adopt(inline); }  // clicked before adoptAll ran

    var confirmed = target.closest('[data-confirm]');
    if (confirmed) {
      if (!ask(confirmed.getAttribute('data-confirm') || DEFAULT_QUESTION)) {
        event.preventDefault();
        event.stopImmediatePropagation();
        return;
      }
      // Our templates render confirmed buttons as type="button": without this script they submit nothing.
      if (confirmed.matches('button[type=button]') && confirmed.form) {
        event.preventDefault();
        submit(confirmed.form, confirmed);
        return;
      }
    }
    var action = target.closest('[data-model-action]');
    if (action) {
      event.preventDefault();
      if (window.modelActions) { window.modelActions.execute(action.getAttribute('data-model-action')); }
      return;
    }
    var link = target.closest('a[href]');
    if (target.closest('[data-prevent-default]') ||
        (link && /^\s*javascript:/i.test(link.getAttribute('href')))) {
      event.preventDefault();
    }
  }, true);

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', adoptAll);
  } else {
    adoptAll();
  }
}());
