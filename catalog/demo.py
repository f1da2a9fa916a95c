"""Generated demo films: a deterministic, realistic-looking catalog for trying and load runs."""

import bisect
import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TypedDict

# Part of every per-film seed, so the demo catalog can be reshuffled as a whole by changing it.
DEMO_SEED = 20_250_601

FIRST_YEAR = 1950
LAST_YEAR = 2025

# The two films every store starts with; a demo film never takes their titles.
SEED_TITLES = frozenset({"Alive!", "ToBusan"})

# Share of films that follow up an earlier demo film instead of starting a new title.
SEQUEL_SHARE = 0.03

# How often a freshly composed title may collide before the film becomes a sequel instead.
TITLE_ATTEMPTS = 6

FREE_SHARE = 0.02

# (oldest age in years, prices in KRW, their weights): new releases cost the most.
PRICE_TIERS: tuple[tuple[int, tuple[int, int, int], tuple[int, int, int]], ...] = (
    (1, (9900, 12000, 15000), (3, 4, 2)),
    (3, (7700, 9900, 12000), (3, 4, 1)),
    (7, (4500, 5500, 7700), (2, 3, 3)),
    (15, (3500, 4500, 5500), (3, 3, 2)),
    (30, (2500, 3500, 4500), (3, 3, 1)),
    (LAST_YEAR - FIRST_YEAR, (1200, 2500, 3500), (3, 3, 1)),
)

# The word lists read better as paragraphs than one word per line.
# fmt: off
CITIES = (
    "Seoul", "Busan", "Incheon", "Jeju", "Gyeongju", "Daegu", "Gwangju", "Tokyo", "Osaka",
    "Kyoto", "Taipei", "Hong Kong", "Shanghai", "Hanoi", "Bangkok", "Manila", "Mumbai",
    "Istanbul", "Cairo", "Tangier", "Nairobi", "Lisbon", "Madrid", "Marseille", "Paris",
    "Naples", "Venice", "Vienna", "Prague", "Berlin", "Warsaw", "Oslo", "Reykjavik",
    "Dublin", "Glasgow", "London", "Havana", "Mexico City", "Buenos Aires", "Valparaiso",
    "New Orleans", "Chicago", "Montreal", "San Francisco", "Sydney", "Vladivostok",
)

ADJECTIVES = (
    "Last", "Silent", "Hidden", "Broken", "Golden", "Iron", "Crimson", "Forgotten", "Distant",
    "Burning", "Frozen", "Endless", "Lonely", "Secret", "Wild", "Quiet", "Scarlet", "Silver",
    "Hollow", "Restless", "Final", "Northern", "Southern", "Wandering", "Velvet", "Stolen",
    "Long", "Little", "Strange", "Bitter", "Empty", "Ancient", "Pale", "Seventh", "Painted",
    "Glass", "Paper", "Stone", "Copper", "Emerald", "Blue", "Red", "White", "Black", "Green",
    "Hungry", "Sleepless", "Faraway", "Shining", "Borrowed", "Nameless", "Eternal", "Lucky",
    "Sacred", "Beautiful", "Dangerous", "Invisible", "Crooked", "Gentle", "Wicked", "Brave",
    "Young", "Old", "Lost", "Great", "Narrow",
)

NOUNS = (
    "Harbor", "Valley", "River", "Garden", "Kingdom", "Horizon", "Witness", "Stranger",
    "Promise", "Frontier", "Lighthouse", "Orchard", "Island", "Mountain", "Road", "Bridge",
    "Station", "Border", "Signal", "Storm", "Summer", "Winter", "Letter", "Mirror", "Window",
    "Forest", "Desert", "Tide", "Hotel", "Circus", "Voyage", "Journey", "Season", "Crossing",
    "Lantern", "Compass", "Passenger", "Return", "Silence", "Inheritance", "Daughter", "Son",
    "Sister", "Brother", "Mother", "Queen", "King", "Emperor", "Hunter", "Thief", "Soldier",
    "Painter", "Pianist", "Dancer", "Fisherman", "Messenger", "Lake", "Moon", "Sun", "Sky",
    "Sea", "Rain", "Fire", "Wind", "Map",
)

# Heads of "<Echoes> of the <Iron> <Valley>".
OF_HEADS = (
    "Echoes", "Ghosts", "Secrets", "Songs", "Children", "Ashes", "Legends", "Prisoners",
    "Keepers", "Last Days", "Shadows", "Voices", "Daughters", "Sons", "Lovers", "Wolves",
    "Tales", "Memories", "Rumors", "Ruins", "Lights", "Saints",
)

# Heads of "<Midnight> in <Seoul>".
MOMENTS = (
    "Midnight", "Twilight", "Summer", "Winter", "Autumn", "Spring", "Dawn", "Rain", "Snow",
    "Moonlight", "Monsoon", "Fog", "One Night", "Seven Days", "A Weekend", "Last Train",
)

PREPOSITIONS = ("Beyond", "After", "Before", "Under", "Across", "Behind", "Inside", "Against")

NAMES = (
    "Mina", "Jisoo", "Hana", "Yuna", "Minjun", "Seojun", "Dohyun", "Eunji", "Theo", "Nora",
    "Leo", "Ada", "Felix", "Iris", "Oscar", "Clara", "Hugo", "Lena", "Mateo", "Sofia", "Kai",
    "Elsa", "Ravi", "Amara", "Jae", "Soo-ah", "Yoon", "Haru", "Aiko", "Mei", "Lin", "Omar",
    "Zara", "Tomas", "Ingrid", "Pablo", "Lucia", "Max", "Ruby", "Sam", "Bea", "Jonah",
)


@dataclass(frozen=True)
class GenreProfile:
    """How films of one genre look: how common, how long, their words and their stories."""

    weight: int
    runtime: tuple[int, int, int]  # shortest, most common, longest (minutes)
    adjectives: tuple[str, ...]
    nouns: tuple[str, ...]
    heroes: tuple[str, ...]
    events: tuple[str, ...]
    goals: tuple[str, ...]
    closers: tuple[str, ...]
    settings: tuple[str, ...] = CITIES
    templates: tuple[str, ...] = (
        "In {setting}, {hero} {event}.",
        "{hero} {event} and must {goal}.",
        "When {hero} {event} in {setting}, there is no choice left but to {goal}.",
    )


PROFILES: dict[str, GenreProfile] = {
    "action": GenreProfile(
        weight=13,
        runtime=(88, 108, 150),
        adjectives=("Lethal", "Steel", "Rogue", "Savage", "Bulletproof", "Blackout", "Raging",
                    "Dead", "Rapid", "Armored", "Hard", "Maximum"),
        nouns=("Strike", "Protocol", "Convoy", "Heist", "Vendetta", "Extraction", "Target",
               "Ambush", "Pursuit", "Showdown", "Fury", "Getaway"),
        heroes=(
            "a retired bomb-disposal expert", "a disgraced special-forces captain",
            "a getaway driver with one job left", "a stuntwoman turned bodyguard",
            "a customs officer", "an ex-boxer working the night shift",
        ),
        events=(
            "finds a shipment of stolen weapons in a container marked as rice",
            "is framed for the assassination of a minister",
            "sees the convoy they were guarding vanish on a mountain highway",
            "wakes up with a tracking chip in their arm and no memory of the last week",
            "crosses a syndicate that owns half the harbor police",
        ),
        goals=(
            "get a witness across the city alive before dawn",
            "clear their name while every agency is hunting them",
            "stop a hijacked train before it reaches the capital",
            "pull off one last heist to save a kidnapped sister",
        ),
        closers=(
            "Nobody walks away clean.", "The clock is already running.",
            "Every ally has a price.", "The only way out is straight through.",
        ),
    ),
    "animation": GenreProfile(
        weight=5,
        runtime=(75, 88, 115),
        adjectives=("Tiny", "Magic", "Flying", "Sleepy", "Clockwork", "Rainbow", "Jolly", "Giant",
                    "Fuzzy", "Upside-Down", "Marvelous", "Wobbly"),
        nouns=("Balloon", "Dragon", "Robot", "Tea Party", "Snowman", "Treehouse", "Kite",
               "Pancake", "Submarine", "Pirate", "Bicycle", "Toy Box"),
        heroes=(
            "a young fox who is afraid of the dark", "a clockwork robot built from spare parts",
            "a girl who can talk to clouds", "a penguin who dreams of flying",
            "a lighthouse keeper's son", "a lost toy rabbit",
        ),
        events=(
            "discovers a door behind the bakery that leads to a city of cats",
            "is swept away from home by a summer storm",
            "finds a dragon egg in the neighbour's vegetable patch",
            "accidentally shrinks the whole family to the size of a thimble",
            "befriends a grumpy mountain spirit",
        ),
        goals=(
            "find the way home before the first snow",
            "save the forest festival from a greedy weasel",
            "return a baby star to the sky",
            "win back a best friend's trust",
        ),
        closers=(
            "A warm adventure for the whole family.", "Friendship turns out to be the real magic.",
            "Bring the tissues and the little ones.", "Every frame is hand-painted.",
        ),
    ),
    "comedy": GenreProfile(
        weight=14,
        runtime=(80, 100, 130),
        adjectives=("Awkward", "Terrible", "Crazy", "Accidental", "Perfect", "Big", "Fake",
                    "Ridiculous", "Unlikely", "Honest", "Lazy", "Bad"),
        nouns=("Wedding", "Vacation", "Roommate", "Reunion", "Karaoke Night", "Road Trip",
               "Neighbor", "Boss", "Honeymoon", "Birthday", "In-Laws", "Babysitter"),
        heroes=(
            "a hopeless wedding planner", "a chicken-restaurant owner",
            "a retired schoolteacher", "an unemployed magician",
            "a family of terrible liars", "a pop idol in hiding",
        ),
        events=(
            "accidentally books two weddings at the same hotel on the same day",
            "inherits a failing karaoke bar from an uncle nobody remembers",
            "pretends to be a detective to impress a date",
            "swaps phones with a gangster on the subway",
            "gets stuck on a ferry with every ex they ever had",
        ),
        goals=(
            "keep the lie going until the end of the weekend",
            "win a cooking contest to save the family restaurant",
            "get grandma to her high-school reunion on time",
            "return a stolen goat before anyone notices",
        ),
        closers=(
            "What could possibly go wrong?", "Everything that can go wrong does.",
            "It gets worse before it gets funnier.", "Nobody comes out with their dignity intact.",
        ),
    ),
    "documentary": GenreProfile(
        weight=8,
        runtime=(75, 95, 150),
        adjectives=("Untold", "Real", "Vanishing", "Unseen", "Living", "Open", "True", "Human",
                    "Fragile", "Changing", "Rising", "Unfinished"),
        nouns=("Archive", "Record", "Planet", "Harvest", "Workshop", "Coastline", "Market",
               "Expedition", "Frontline", "Glacier", "Reef", "Factory"),
        heroes=(
            "a community of haenyeo divers", "a veteran war photographer",
            "the last family of traditional kite makers", "a team of volcano scientists",
            "a small-town orchestra", "the night-shift workers of a fish market",
        ),
        events=(
            "return to the places they worked forty years ago",
            "spend a full year racing against a changing coastline",
            "open their private archive to outsiders for the first time",
            "prepare for a season that may be their last",
            "follow a single migrating flock across three continents",
        ),
        goals=(
            "keep a disappearing craft alive",
            "find out what became of the people in their photographs",
            "record a way of life before it is gone",
            "reach the summit before the weather turns",
        ),
        closers=(
            "Filmed over five years.", "Told entirely in their own words.",
            "An intimate portrait of work, memory and change.",
            "Featuring never-before-seen archive footage.",
        ),
        # "They" fits both a photographer and a whole orchestra.
        templates=(
            "This documentary follows {hero} as they {event}.",
            "Shot in {setting}, a portrait of {hero} as they try to {goal}.",
            "The camera stays with {hero} as they {event} and try to {goal}.",
        ),
    ),
    "drama": GenreProfile(
        weight=22,
        runtime=(95, 122, 180),
        adjectives=("Unspoken", "Second", "Tender", "Ordinary", "Patient", "Open", "Small",
                    "Humble", "Proud", "Fragile", "Unfinished", "Late"),
        nouns=("Family", "Apartment", "Father", "Verdict", "Apology", "Funeral", "Homecoming",
               "Farewell", "Schoolteacher", "Marriage", "Widow", "Debt"),
        heroes=(
            "a widowed fisherman", "a young cellist", "an estranged daughter",
            "a public defender", "a man who has not spoken to his brother in ten years",
            "a factory worker on her last shift",
        ),
        events=(
            "comes home for a father's funeral after twenty years away",
            "takes on the case that ended a mentor's career",
            "finds a bundle of letters hidden beneath the floorboards",
            "loses the family restaurant to a developer",
            "agrees to look after a grandson they have never met",
        ),
        goals=(
            "face the secret the whole family has kept for decades",
            "decide what is worth holding on to",
            "forgive the one person who never asked for it",
            "keep the family together through one hard winter",
        ),
        closers=(
            "A story about the things we never say.", "Some debts are paid in silence.",
            "Home is never the place you left.", "Nothing about grief is simple.",
        ),
    ),
    "fantasy": GenreProfile(
        weight=5,
        runtime=(95, 128, 180),
        adjectives=("Enchanted", "Sunken", "Moonlit", "Forbidden", "Starborn", "Thousand-Year",
                    "Elven", "Winged", "Sorcerer's", "Dragon", "Shadow", "Immortal"),
        nouns=("Crown", "Sword", "Spellbook", "Throne", "Citadel", "Prophecy", "Oracle",
               "Realm", "Amulet", "Labyrinth", "Griffin", "Witch"),
        heroes=(
            "an apprentice mapmaker", "an exiled fox spirit", "a blacksmith's daughter",
            "the last of the dragon riders", "a prince with no magic", "a cursed ferryman",
        ),
        events=(
            "draws a map of a kingdom that does not exist yet",
            "breaks an ancient seal by mistake",
            "is chosen by a sword nobody else can lift",
            "makes a bargain with the goblin king",
            "wakes a sleeping god beneath the mountain",
        ),
        goals=(
            "reach the edge of the world before the last moon sets",
            "undo the curse on a drowned kingdom",
            "unite five quarrelling clans against the coming dark",
            "steal back the stars from the sky thief",
        ),
        closers=(
            "Every spell has a price.", "Legends are only the beginning.",
            "The old gods are waking.", "Not every prophecy wants to be fulfilled.",
        ),
        settings=(
            "the floating city of Aster", "a kingdom beneath the sea", "the Ember Wastes",
            "the court of the goblin king", "a village at the edge of the world",
            "the Thousand Lakes",
        ),
    ),
    "horror": GenreProfile(
        weight=8,
        runtime=(78, 95, 125),
        adjectives=("Bleeding", "Cursed", "Whispering", "Rotten", "Unholy", "Drowned", "Haunted",
                    "Possessed", "Hungry", "Faceless", "Buried", "Howling"),
        nouns=("Basement", "Asylum", "Dollhouse", "Ritual", "Well", "Night Shift", "Séance",
               "Attic", "Exorcism", "Scarecrow", "Cabin", "Curse"),
        heroes=(
            "a night-shift nurse", "a family of five", "a true-crime podcaster",
            "a priest who lost his faith", "a college student", "a new tenant",
        ),
        events=(
            "moves into an apartment where the previous owner never left",
            "plays a recording that should never have been made",
            "finds a door in the basement that was not there yesterday",
            "hears a child singing inside the walls every night at 3 a.m.",
            "is snowed in at a mountain lodge with something that is not a guest",
        ),
        goals=(
            "survive until sunrise",
            "break the curse before it claims the youngest",
            "find out what the village buried in 1952",
            "escape before the ritual is complete",
        ),
        closers=(
            "Some doors should stay closed.", "Do not answer if it knocks.",
            "It has been waiting for a very long time.",
            "Nobody believes them until it is too late.",
        ),
    ),
    "romance": GenreProfile(
        weight=8,
        runtime=(85, 108, 140),
        adjectives=("Sweet", "Lovesick", "Starry", "Summer", "Lovely", "Rose", "Sunlit", "Dear",
                    "Honey", "Cherry", "Endless", "Secret"),
        nouns=("Kiss", "Valentine", "Love Letter", "Serenade", "Bouquet", "Heart", "Romance",
               "Sweetheart", "Affair", "Engagement", "First Date", "Proposal"),
        heroes=(
            "a florist who does not believe in love", "a translator", "a struggling songwriter",
            "a baker", "a ferry captain", "a wedding photographer",
        ),
        events=(
            "falls for the stranger who keeps returning the wrong books to the library",
            "meets the one that got away at a friend's wedding",
            "exchanges anonymous letters with a pen pal across the sea",
            "shares a rented summer house with a grumpy novelist by mistake",
            "agrees to a fake engagement to please a dying grandmother",
        ),
        goals=(
            "choose between a dream job abroad and a second chance at home",
            "say the words before the summer ends",
            "admit the truth before the wedding",
            "find the courage to write the last letter",
        ),
        closers=(
            "Love arrives on its own schedule.", "Some stories deserve a second chapter.",
            "Timing is everything.", "The heart keeps its own calendar.",
        ),
    ),
    "sci-fi": GenreProfile(
        weight=6,
        runtime=(90, 120, 170),
        adjectives=("Quantum", "Orbital", "Synthetic", "Dark", "Neon", "Zero-Gravity", "Binary",
                    "Cybernetic", "Lunar", "Martian", "Infinite", "Parallel"),
        nouns=("Colony", "Outpost", "Android", "Wormhole", "Transmission", "Singularity",
               "Starship", "Clone", "Nebula", "Eclipse", "Mainframe", "Exodus"),
        heroes=(
            "a cargo pilot", "the ship's onboard AI", "a lunar miner",
            "a climate engineer", "a clone who remembers being someone else",
            "the last crew of a generation ship",
        ),
        events=(
            "picks up a distress signal from a ship that vanished a century ago",
            "discovers that the colony's sun is dying twenty years early",
            "receives a message sent from twenty years in the future",
            "wakes from cryosleep three hundred years too late",
            "learns that the city's rain is manufactured",
        ),
        goals=(
            "make first contact without starting a war",
            "get the colony off-world before the shield fails",
            "prove that the android is alive",
            "close the wormhole before it swallows the station",
        ),
        closers=(
            "Humanity was never alone.", "The future does not forgive.",
            "Time is the one resource left.", "Out here, every mistake is the last.",
        ),
        settings=(
            "a mining colony on Europa", "Neo-Seoul in 2149", "a generation ship",
            "the lunar city of Tranquility", "an orbital station above a drowned Earth",
            "the rings of Saturn",
        ),
    ),
    "thriller": GenreProfile(
        weight=11,
        runtime=(88, 112, 155),
        adjectives=("Deadly", "Cold", "Perfect", "Missing", "Midnight", "Dark", "Guilty",
                    "Innocent", "Anonymous", "Silent", "Fatal", "Hidden"),
        nouns=("Alibi", "Witness", "Confession", "Conspiracy", "Suspect", "Motive", "Cover-Up",
               "Informant", "Ransom", "Hostage", "Evidence", "Stakeout"),
        heroes=(
            "a rookie detective", "an investigative journalist", "a forensic accountant",
            "a taxi driver", "a defence attorney", "a retired profiler",
        ),
        events=(
            "finds their own fingerprints at a murder scene they have never visited",
            "picks up a passenger who confesses to a crime that has not happened yet",
            "uncovers a ledger that ties a beloved mayor to three disappearances",
            "receives photographs of the family taken from inside the house",
            "realises the killer they are hunting is copying their old case files",
        ),
        goals=(
            "expose the truth before the evidence disappears",
            "find the missing girl before the 48 hours run out",
            "catch the killer without becoming the next victim",
            "decide whom to trust in a department full of liars",
        ),
        closers=(
            "Everyone is hiding something.", "The truth is the most dangerous alibi.",
            "Trust no one.", "The past never stays buried.",
        ),
    ),
}

# fmt: on

_TITLE_PATTERNS = ("the", "bare", "of_the", "moment", "of_city", "preposition", "name")
_TITLE_PATTERN_CUM_WEIGHTS = tuple(itertools.accumulate((30, 14, 22, 8, 10, 6, 10)))
_GENRES = tuple(PROFILES)
_GENRE_CUM_WEIGHTS = tuple(itertools.accumulate(profile.weight for profile in PROFILES.values()))
_ROMAN = ((10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"))
_CITY_SET = frozenset(CITIES)
# Each genre's synopses that say where they happen: the ones a title naming a city gets.
_SET_TEMPLATES = {
    profile: tuple(template for template in profile.templates if "{setting}" in template)
    for profile in PROFILES.values()
}


class DemoFilm(TypedDict):
    """The field values of one demo `Vod`."""

    title: str
    synopsis: str
    genre: str
    release_year: int
    runtime_minutes: int
    price: int
    poster_url: str
    is_active: bool


@dataclass
class _Series:
    """What a follow-up needs to know about the film it continues."""

    title: str
    genre: str
    runtime_minutes: int
    latest_year: int
    city: str | None  # the city its title names, where its sequels are set too
    films: int = 1


def demo_films(*, count: int) -> Iterator[DemoFilm]:
    """The first `count` demo films, as `Vod` field values.

    The i-th film is always the same film, whatever the count: each film draws from its own
    seeded `random.Random`, titles are unique and never a seed film's title. A few films
    are follow-ups of earlier ones (same genre, later year, "II" / "Part Two" / "Returns").
    """
    if count < 0:
        raise ValueError("count must be zero or more")
    taken: set[str] = set(SEED_TITLES)
    series: list[_Series] = []
    for index in range(count):
        rng = random.Random(DEMO_SEED * 1_000_003 + index)  # noqa: S311 (demo data, not secrets)
        film = None
        if not series or rng.random() >= SEQUEL_SHARE:
            film = _original(rng=rng, taken=taken)
            if film is not None:
                series.append(
                    _Series(
                        title=film["title"],
                        genre=film["genre"],
                        runtime_minutes=film["runtime_minutes"],
                        latest_year=film["release_year"],
                        city=title_city(film["title"]),
                    )
                )
        # Also when every freshly composed title was taken: a crowded catalog grows sequels.
        if film is None:
            film = _sequel(rng=rng, of=rng.choice(series), taken=taken)
        taken.add(film["title"])
        yield film


def _original(*, rng: random.Random, taken: set[str]) -> DemoFilm | None:
    genre = _pick_weighted(rng=rng, words=_GENRES, cum_weights=_GENRE_CUM_WEIGHTS)
    profile = PROFILES[genre]
    for _ in range(TITLE_ATTEMPTS):
        title, city = _compose_title(rng=rng, profile=profile)
        if title not in taken:
            break
    else:
        return None
    low, mode, high = profile.runtime
    return _film(
        rng=rng,
        title=title,
        synopsis=_synopsis(rng=rng, profile=profile, city=city),
        genre=genre,
        release_year=_release_year(rng=rng, genre=genre),
        runtime_minutes=round(rng.triangular(low, high, mode)),
    )


def _sequel(*, rng: random.Random, of: _Series, taken: set[str]) -> DemoFilm:
    profile = PROFILES[of.genre]
    title = ""
    while not title or title in taken:
        of.films += 1
        title = of.title + _sequel_suffix(rng=rng, number=of.films)
    of.latest_year = min(LAST_YEAR, of.latest_year + rng.randint(1, 5))
    low, _mode, high = profile.runtime
    story = _synopsis(rng=rng, profile=profile, city=of.city)
    return _film(
        rng=rng,
        title=title,
        synopsis=f"Years after the events of {of.title}: {story[0].lower()}{story[1:]}",
        genre=of.genre,
        release_year=of.latest_year,
        runtime_minutes=min(high, max(low, of.runtime_minutes + rng.randint(-8, 15))),
    )


def _film(
    *,
    rng: random.Random,
    title: str,
    synopsis: str,
    genre: str,
    release_year: int,
    runtime_minutes: int,
) -> DemoFilm:
    return DemoFilm(
        title=title,
        synopsis=synopsis,
        genre=genre,
        release_year=release_year,
        runtime_minutes=runtime_minutes,
        price=_price(rng=rng, release_year=release_year),
        poster_url="",
        is_active=True,
    )


def title_city(title: str) -> str | None:
    """The city a demo title names ("Summer in Dublin", "The Harbor of Busan"), if any."""
    for marker in (" in ", " of "):
        _head, found, city = title.rpartition(marker)
        if found and city in _CITY_SET:
            return city
    return None


def _compose_title(*, rng: random.Random, profile: GenreProfile) -> tuple[str, str | None]:
    """A title, and the city it names (None: it names none)."""
    pattern = _pick_weighted(rng=rng, words=_TITLE_PATTERNS, cum_weights=_TITLE_PATTERN_CUM_WEIGHTS)
    if pattern == "moment":
        moment = _pick(rng=rng, words=MOMENTS)
        city = _pick(rng=rng, words=CITIES)
        return f"{moment} in {city}", city
    if pattern == "preposition":
        return f"{_pick(rng=rng, words=PREPOSITIONS)} the {_pick(rng=rng, words=NOUNS)}", None
    # Words of the film's own genre come up as often as all the shared ones, so a horror film
    # tends to be called "The Drowned Basement" rather than "The Lovely Orchard".
    adjective = _pick(rng=rng, words=profile.adjectives if rng.random() < 0.5 else ADJECTIVES)
    noun = _pick(rng=rng, words=profile.nouns if rng.random() < 0.5 else NOUNS)
    if pattern == "the":
        return f"The {adjective} {noun}", None
    if pattern == "bare":
        return f"{adjective} {noun}", None
    if pattern == "of_the":
        return f"{_pick(rng=rng, words=OF_HEADS)} of the {adjective} {noun}", None
    if pattern == "of_city":
        city = _pick(rng=rng, words=CITIES)
        return f"The {noun} of {city}", city
    return f"{_pick(rng=rng, words=NAMES)} and the {adjective} {noun}", None


def _pick(*, rng: random.Random, words: tuple[str, ...]) -> str:
    # Cheaper than rng.choice, which matters over a few hundred thousand films.
    return words[int(rng.random() * len(words))]


def _pick_weighted(
    *, rng: random.Random, words: tuple[str, ...], cum_weights: tuple[int, ...]
) -> str:
    # rng.choices without its per-call overhead.
    return words[bisect.bisect(cum_weights, rng.random() * cum_weights[-1])]


def _sequel_suffix(*, rng: random.Random, number: int) -> str:
    if number == 2:
        return rng.choice((" II", ": Part Two", " Returns"))
    if number >= 40:
        return f" {number}"
    numeral = ""
    for value, letters in _ROMAN:
        while number >= value:
            numeral += letters
            number -= value
    return f" {numeral}"


def _synopsis(*, rng: random.Random, profile: GenreProfile, city: str | None = None) -> str:
    """A story of the genre; set in `city` when the title names one ("Summer in Dublin"
    is told in Dublin, never "In Naples, ...")."""
    # (as many draws either way, so every later pick of the film stays what it was)
    template = _pick(rng=rng, words=_SET_TEMPLATES[profile] if city else profile.templates)
    hero = _pick(rng=rng, words=profile.heroes)
    event = _pick(rng=rng, words=profile.events)
    goal = _pick(rng=rng, words=profile.goals)
    setting = _pick(rng=rng, words=profile.settings)
    sentence = template.format(hero=hero, event=event, goal=goal, setting=city or setting)
    sentence = sentence[0].upper() + sentence[1:]
    if rng.random() < 0.6:
        sentence += " " + _pick(rng=rng, words=profile.closers)
    return sentence


def _release_year(*, rng: random.Random, genre: str) -> int:
    # Far more films have been made (and are streamed) recently: skew toward the present.
    skew = 2.2 if genre == "documentary" else 1.7
    return LAST_YEAR - int((LAST_YEAR - FIRST_YEAR + 1) * rng.random() ** skew)


def _price(*, rng: random.Random, release_year: int) -> int:
    if rng.random() < FREE_SHARE:
        return 0
    age = LAST_YEAR - release_year
    for oldest, prices, weights in PRICE_TIERS:
        if age <= oldest:
            return rng.choices(prices, weights=weights)[0]
    raise AssertionError(f"no price tier for a film from {release_year}")
