package ui

import (
	"time"

	"github.com/charmbracelet/lipgloss"
)

// styles holds every style the UI uses, in one place.
type styles struct {
	Title, Header, Selected, Dim, Status, Error, Warn, OK, Info lipgloss.Style
}

func defaultStyles() styles {
	return styles{
		Title:    lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("205")),
		Header:   lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("75")), // not underlined: lipgloss underlines rune by rune
		Selected: lipgloss.NewStyle().Reverse(true),
		Dim:      lipgloss.NewStyle().Foreground(lipgloss.Color("245")),
		Status:   lipgloss.NewStyle().Foreground(lipgloss.Color("252")).Background(lipgloss.Color("236")),
		Error:    lipgloss.NewStyle().Foreground(lipgloss.Color("196")),
		Warn:     lipgloss.NewStyle().Foreground(lipgloss.Color("214")),
		OK:       lipgloss.NewStyle().Foreground(lipgloss.Color("42")),
		Info:     lipgloss.NewStyle().Foreground(lipgloss.Color("39")),
	}
}

// row puts a one-cell gutter before a list row: ">" marks the selected one,
// so the cursor stays visible where reverse video is not drawn (NO_COLOR,
// the ASCII profile).
func (s styles) row(line string, selected bool) string {
	if selected {
		return s.Selected.Render(">" + line)
	}
	return " " + line
}

// statusStyle colours an HTTP status by class.
func (s styles) statusStyle(code int) lipgloss.Style {
	switch {
	case code >= 500:
		return s.Error
	case code >= 400:
		return s.Warn
	case code >= 300:
		return s.Info
	default:
		return s.OK
	}
}

// durationStyle colours a duration by how slow it is.
func (s styles) durationStyle(d time.Duration) lipgloss.Style {
	switch {
	case d >= time.Second:
		return s.Error
	case d >= 100*time.Millisecond:
		return s.Warn
	default:
		return lipgloss.NewStyle()
	}
}
