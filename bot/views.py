"""What the user reads: message texts and inline keyboards."""

from __future__ import annotations

from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from core.labels import DISPLAY_NAMES, LABEL_INDEX, VALID_LABELS, guess_phrase

LOOKING = "Looking… 🔎"
HELP = (
    "Send me a photo of an animal and I will tell you what I think it is: "
    "the three most likely answers with percentages. When I can't tell two or three animals "
    "apart, I say so.\n\n"
    "Tap ✅ if I got it right, or ❌ and pick the right animal (or pick one of those I "
    "couldn't tell apart); your answers teach me.\n\n"
    "I know: {labels}.\n\n"
    "Privacy: I keep the photos you send, my predictions and your answers to improve the "
    "model. /forget deletes all of them."
)
NOT_A_PHOTO = "I only understand photos. Please send a picture of an animal 📷"
STICKER = "Nice sticker! 😄 I can only recognise animals in photos, though. Please send a photo."
VIDEO = "I can't watch videos 🎬. Please send a still photo of the animal instead."
DOCUMENT = "That file isn't an image. Please send a JPEG, PNG, WebP or GIF photo."
TEXT = "Send me a photo of an animal and I'll guess what it is. /help tells you more."
TOO_SLOW = "Sorry, that took too long. Please send the photo again in a moment."
FAILED = "Sorry, I couldn't look at that photo just now. Please try again in a moment."
OOPS = "Sorry, something went wrong on my side. Please try again in a moment."
ADMINS_ONLY = "Sorry, that command is for admins only."
EXPIRED = "This button has expired or isn't valid any more. Send the photo again to answer."
NOT_RECORDED = "Sorry, I couldn't record your answer just now. Please tap again in a moment."
NOT_YOURS = "Only the person who sent this photo can answer about it."


def help_text() -> str:
    """The /start and /help message."""
    return HELP.format(labels=", ".join(DISPLAY_NAMES[label] for label in VALID_LABELS))


def rate_limited(retry_after: int) -> str:
    """Tell the user when to try again."""
    return f"You're sending photos faster than I can look. Please try again in {retry_after} s."


def too_large(limit_bytes: int) -> str:
    """Refuse an oversize file."""
    megabytes = limit_bytes // (1024 * 1024)
    return f"That file is too large (limit {megabytes} MB). Please send a smaller photo."


def prediction_text(top3: Sequence[tuple[str, float]], answer: Sequence[str] = ()) -> str:
    """The answer (one label, or the two or three it cannot tell apart), then the top 3."""
    best, probability = top3[0]
    if len(answer) > 1:
        lines = [f"This is {either(answer)}: I can't tell which."]
    else:
        lines = [f"I think this is {guess_phrase(best)} ({percent(probability)})."]
    lines += [f"{i}. {DISPLAY_NAMES[label]} — {percent(p)}" for i, (label, p) in enumerate(top3, 1)]
    lines.append("Which is it?" if len(answer) > 1 else "Am I right?")
    return "\n".join(lines)


def either(labels: Sequence[str]) -> str:
    """Labels as one phrase: "a lion or a tiger", "a lion, a tiger or a cat"."""
    phrases = ["something else" if label == "other" else guess_phrase(label) for label in labels]
    return ", ".join(phrases[:-1]) + " or " + phrases[-1]


def percent(probability: float) -> str:
    """A probability as a whole percentage, never rounding a tiny one to 0%."""
    return "<1%" if probability < 0.005 else f"{probability:.0%}"


def recorded_text(
    top3: Sequence[tuple[str, float]], answer: Sequence[str], label: str, correct: bool
) -> str:
    """The prediction followed by what was recorded."""
    shown = prediction_text(top3, answer).rsplit("\n", 1)[0]
    verdict = "✅ Recorded: correct" if correct else f"❌ Recorded: it's {guess_phrase(label)}"
    return f"{shown}\n\n{verdict}. Thank you! (Tap again to change your answer.)"


def answer_keyboard(short_id: str, answer: Sequence[str] = ()) -> InlineKeyboardMarkup:
    """✅ Correct / ❌ Wrong for one label; for a set, one button per label and ❌ Neither."""
    if len(answer) <= 1:
        return verdict_keyboard(short_id)
    buttons = [
        InlineKeyboardButton(
            DISPLAY_NAMES[label], callback_data=f"lb:{short_id}:{LABEL_INDEX[label]}"
        )
        for label in answer
    ]
    other = "❌ Neither" if len(answer) == 2 else "❌ None of these"
    return InlineKeyboardMarkup(
        [buttons, [InlineKeyboardButton(other, callback_data=f"no:{short_id}")]]
    )


def verdict_keyboard(short_id: str) -> InlineKeyboardMarkup:
    """✅ Correct / ❌ Wrong."""
    return InlineKeyboardMarkup(
        [[
            InlineKeyboardButton("✅ Correct", callback_data=f"ok:{short_id}"),
            InlineKeyboardButton("❌ Wrong", callback_data=f"no:{short_id}"),
        ]]
    )  # fmt: skip


def labels_keyboard(short_id: str) -> InlineKeyboardMarkup:
    """The 16 labels in a 4x4 grid, then Cancel."""
    buttons = [
        InlineKeyboardButton(DISPLAY_NAMES[label], callback_data=f"lb:{short_id}:{index}")
        for index, label in enumerate(VALID_LABELS)
    ]
    rows = [buttons[i : i + 4] for i in range(0, len(buttons), 4)]
    rows.append([InlineKeyboardButton("Cancel", callback_data=f"cx:{short_id}")])
    return InlineKeyboardMarkup(rows)


FORGOTTEN_MEANWHILE = "You asked me to forget your photos, so I deleted this one too."


def forgotten(counts: dict[str, int]) -> str:
    """Confirm /forget with counts."""
    return (
        f"Done. I deleted {counts.get('photos', 0)} photo(s), "
        f"{counts.get('interactions', 0)} prediction(s) and {counts.get('feedback', 0)} "
        "answer(s) of yours. They won't be used for training."
    )
